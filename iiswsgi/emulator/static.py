"""IIS's StaticFileModule (and its default documents and directory
listing refusal), for the requests no FastCGI handler takes; the MIME map
is the model's :class:`iiswsgi.iis.webconfig.StaticContent` (an extension
outside it is 404.3).

As IIS, every file is sent with ``Last-Modified`` and an ``ETag`` made of
the file's last-write time as a Windows FILETIME in hex and IIS's change
number (``"1d9c3a4b5e6f700:0"``), and a request whose ``If-None-Match``
names that ETag (or, without If-None-Match, whose ``If-Modified-Since`` is
not older than the file) is answered 304 Not Modified with no body."""

import os
from email.utils import formatdate, parsedate_to_datetime
from typing import Iterator, Mapping, Optional

from ..files import is_within
from ..iis.webconfig import StaticContent
from .access import Answer
from .config import Application
from .pages import NOT_FOUND, Refusal

__all__ = ["DEFAULT_DOCUMENTS", "StaticFile", "entity_tag"]

# 100 ns intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01.
_FILETIME_EPOCH = 116444736000000000

DEFAULT_DOCUMENTS = ("Default.htm", "Default.html", "index.htm",
                     "index.html", "iisstart.htm")
_CHUNK = 65536


class StaticFile(Answer):
    """The file ``relative`` names under ``application``'s folder (a
    folder's default document); raises Refusal where IIS refuses."""

    def __init__(self, application: Application, relative: str,
                 url_path: str, method: str,
                 static_content: StaticContent,
                 environ: Optional[Mapping] = None) -> None:
        root = os.path.realpath(application.physical_path)
        path = os.path.realpath(os.path.join(root, *relative.split("/")))
        if not is_within(path, root):
            raise Refusal(404, 0, "The resource you are looking for is not"
                          " here.")
        if os.path.isdir(path):
            for name in DEFAULT_DOCUMENTS:
                if os.path.isfile(os.path.join(path, name)):
                    path = os.path.join(path, name)
                    break
            else:
                raise Refusal(403, 14, "The Web server is configured to not"
                              " list the contents of this directory.",
                              module="DirectoryListingModule")
        if not os.path.isfile(path):
            raise Refusal(404, 0, NOT_FOUND, "No FastCGI handler of"
                          " web.config takes %s, and there is no such file"
                          % url_path, "0x80070002", "StaticFile",
                          "IIS Web Core")
        kind = static_content.mime_type(path.replace(os.sep, "/"))
        if kind is None:
            raise Refusal(404, 3, "The page you are requesting cannot be"
                          " served because of the extension configuration.",
                          module="StaticFileModule", handler="StaticFile")
        if method not in ("GET", "HEAD"):
            raise Refusal(405, 0, "The page you are looking for cannot be"
                          " displayed because an invalid method (HTTP verb)"
                          " is being used.", module="StaticFileModule",
                          handler="StaticFile")
        self.path = path
        self.kind = kind
        stat = os.stat(path)
        self.size = stat.st_size
        self.etag = entity_tag(stat.st_mtime_ns)
        self.last_modified = formatdate(stat.st_mtime, usegmt=True)
        self.status = 304 if _not_modified(
            environ or {}, self.etag, int(stat.st_mtime)) else 200

    def __iter__(self) -> Iterator[bytes]:
        validators = [("ETag", self.etag),
                      ("Last-Modified", self.last_modified),
                      ("Accept-Ranges", "bytes")]
        if self.status == 304:
            self._start_response("304 Not Modified", validators)
            return
        self._start_response("200 OK", [("Content-Type", self.kind),
                                        ("Content-Length", str(self.size))]
                             + validators)
        with open(self.path, "rb") as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                self.sent += len(chunk)
                yield chunk


def entity_tag(mtime_ns: int) -> str:
    """IIS's ETag for a file last written at ``mtime_ns`` (ns since the
    Unix epoch): its FILETIME in hex, a colon and the change number 0,
    quoted."""
    return '"%x:0"' % (mtime_ns // 100 + _FILETIME_EPOCH)


def _not_modified(environ, etag, mtime):
    """Whether the request's conditional headers say the client's copy
    is current (RFC 9110 section 13.2.2: If-None-Match first)."""
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [tag.strip() for tag in if_none_match.split(",")]
        # A weak comparison, as for GET: W/"x" matches "x".
        return "*" in tags or any(
            (tag[2:] if tag.startswith("W/") else tag) == etag
            for tag in tags)
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError, IndexError):
            return False        # not a date: ignored, as RFC 9110 says
        if when is None:
            return False
        return mtime <= when.timestamp()
    return False
