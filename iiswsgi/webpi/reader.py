"""Reading feed files (through :mod:`iiswsgi.safexml`) and walking their
elements whatever namespace prefix they carry."""

import logging
import xml.etree.ElementTree as ElementTree
from typing import List, Optional

from .. import safexml
from .errors import FeedError

__all__ = ["child_text", "children", "feed_id_of", "local_name",
           "read_feed"]

log = logging.getLogger("iiswsgi.webpi.reader")


def local_name(tag: object) -> object:
    """An element's tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else tag


def children(element: ElementTree.Element,
             tag: str) -> List[ElementTree.Element]:
    """The children of ``element`` named ``tag`` (in any namespace)."""
    return [child for child in element if local_name(child.tag) == tag]


def child_text(element: ElementTree.Element, tag: str) -> Optional[str]:
    """The stripped text of the first child named ``tag``, or None when
    there is none."""
    found = children(element, tag)
    return (found[0].text or "").strip() if found else None


def read_feed(path: str) -> ElementTree.Element:
    """The root Element of the feed file at ``path`` (parsed with
    :mod:`iiswsgi.safexml`); FeedError when it cannot be read or parsed."""
    return safexml.parse_file_or(path, FeedError, "the feed")


def feed_id_of(path: str) -> Optional[str]:
    """The ``<id>`` of the feed file at ``path``, or None when it is not a
    readable feed."""
    try:
        root = safexml.parse_file(path)
    except (OSError, safexml.XMLError) as error:
        log.debug("%s: not a readable feed: %s", path, error)
        return None
    if local_name(root.tag) != "feed":
        return None
    return child_text(root, "id")
