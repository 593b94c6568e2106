"""The error of the WebPI feed layer."""

from ..errors import IISWSGIError

__all__ = ["FeedError"]


class FeedError(IISWSGIError, ValueError):
    """A feed cannot be built, or is not one WebPI would read: the message
    names the feed (or setting) and what is wrong."""
