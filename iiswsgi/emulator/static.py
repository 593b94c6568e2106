"""IIS's StaticFileModule (and its default documents and directory
listing refusal), for the requests no FastCGI handler takes; the MIME map
is the model's :class:`iiswsgi.iis.webconfig.StaticContent` (an extension
outside it is 404.3)."""

import os
from typing import Iterator

from ..files import is_within
from ..iis.webconfig import StaticContent
from .access import Answer
from .config import Application
from .pages import NOT_FOUND, Refusal

__all__ = ["DEFAULT_DOCUMENTS", "StaticFile"]

DEFAULT_DOCUMENTS = ("Default.htm", "Default.html", "index.htm",
                     "index.html", "iisstart.htm")
_CHUNK = 65536


class StaticFile(Answer):
    """The file ``relative`` names under ``application``'s folder (a
    folder's default document); raises Refusal where IIS refuses."""

    def __init__(self, application: Application, relative: str,
                 url_path: str, method: str,
                 static_content: StaticContent) -> None:
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
        self.status = 200

    def __iter__(self) -> Iterator[bytes]:
        size = os.path.getsize(self.path)
        self._start_response("200 OK", [("Content-Type", self.kind),
                                        ("Content-Length", str(size))])
        with open(self.path, "rb") as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                self.sent += len(chunk)
                yield chunk
