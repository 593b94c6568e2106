"""FastCGI parameters to a PEP 3333 environ.

IIS puts the whole decoded URL path in both SCRIPT_NAME and PATH_INFO, in
the system's ANSI code page unless told otherwise.  Here the path is
rebuilt from the raw URL IIS also sends (UNENCODED_URL, REQUEST_URI),
percent-decoded to bytes and carried as latin-1 text as PEP 3333 asks (from
IIS, with ``%uXXXX`` decoded and backslashes taken as slashes, as IIS
routed it), and split at the application's virtual path, which IIS gives in APPL_MD_PATH
(``/LM/W3SVC/1/ROOT/app``).  Other web servers split the path themselves;
their SCRIPT_NAME and PATH_INFO are kept.
"""

import functools
import logging
import os
import re
from typing import Any, Dict, Optional, Tuple
from urllib.parse import unquote_to_bytes

from ..iis.paths import (expand_percent_u, iis_normalized, origin_form,
                         printable, remove_dot_segments, split_under)
from ..settings import TRUE_WORDS as _TRUE

__all__ = ["build_environ", "filesystem_path", "mount_point",
           "original_url", "remount",
           "remove_dot_segments", "request_path",
           "split_path"]

log = logging.getLogger(__name__)

# PEP 3333 asks for these; a web server that leaves one out is broken, but
# the application should still get a value it can use.
# Header values IIS joined: "/a,/b" or "/a, http://host/b".
_SEVERAL_URLS = re.compile(r",\s*(?:/|[A-Za-z][A-Za-z0-9+.\-]*://)")
_REQUIRED = (("REQUEST_METHOD", "GET"), ("SERVER_NAME", "localhost"),
             ("SERVER_PORT", "80"), ("SERVER_PROTOCOL", "HTTP/1.0"))
_REQUIRED_NAMES = frozenset(name for name, _ in _REQUIRED)


def filesystem_path(value: Optional[str]) -> Optional[str]:
    """A server variable naming a folder (APPL_PHYSICAL_PATH), as a path.

    Parameters arrive as latin-1 text (each byte one character), but IIS
    encodes them in the system's ANSI code page, or in UTF-8 when told to
    (FastCGIUtf8ServerVariables).  Of the readings of those bytes, the first
    that names an existing folder wins; with none, the text as it came."""
    if not value or value.isascii():
        return value
    raw = value.encode("latin-1")
    candidates = []
    for encoding in ("utf-8", "mbcs", "latin-1"):
        try:
            candidates.append(raw.decode(encoding))
        except (UnicodeDecodeError, LookupError):
            continue
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    return value


def request_path(raw: str, iis: bool = False) -> str:
    """The path of a raw request URI (``/a%20b?q``), percent-decoded and
    carried as latin-1 text (each byte one character), dot segments
    resolved.  An absolute URI (``http://host/path``) gives its path.

    ``iis``: the URI came from IIS, so it is read as IIS routed it: its
    ``%uXXXX`` escapes decoded (to UTF-8 bytes) and backslashes taken as
    slashes before the dot segments are resolved (IIS serves
    ``/admin\\..\\public`` as ``/public``; the application must route
    the same path).  Other web servers map backslashes as they are."""
    path = origin_form(raw).split("?", 1)[0].split("#", 1)[0]
    if iis:
        path = expand_percent_u(path)
    if "%" in path:
        path = unquote_to_bytes(path.encode("latin-1")).decode("latin-1")
    if iis:
        return iis_normalized(path)
    return remove_dot_segments(path)


@functools.lru_cache(maxsize=64)
def _mount_of(appl_md_path):
    # APPL_MD_PATH is per application (IIS's configuration, not the
    # request's): its mount point is worked out once per value.
    return mount_point(appl_md_path)


def mount_point(appl_md_path: str) -> str:
    """The application's virtual path from IIS's APPL_MD_PATH: the part
    after ``/ROOT`` (any case), ``""`` for a site's root application."""
    lowered = appl_md_path.lower()
    index = lowered.find("/root")
    while index >= 0:
        end = index + 5
        if end == len(lowered) or lowered[end] == "/":
            return appl_md_path[end:].rstrip("/")
        index = lowered.find("/root", end)
    return ""


def split_path(path: str, mount: str) -> Optional[Tuple[str, str]]:
    """``(SCRIPT_NAME, PATH_INFO)``: ``path`` split after ``mount``, matched
    case-insensitively on a segment boundary and keeping the request's own
    spelling.  None when ``path`` is not under ``mount``."""
    mount = mount.rstrip("/")
    if mount and not mount.startswith("/"):
        mount = "/" + mount
    return split_under(path, mount)


def _iis_paths(environ, path, mount):
    paths = split_path(path, mount)
    if paths is None and not mount.isascii():
        # IIS may have sent the application path as UTF-8 bytes.
        paths = split_path(path, mount.encode("utf-8").decode("latin-1"))
    if paths is None:
        log.warning(
            "request path %r is not under the application path %r (from"
            " APPL_MD_PATH %r); passing the whole path as PATH_INFO",
            path, mount, environ.get("APPL_MD_PATH"))
        paths = "", path
    return paths


def remount(environ: Dict[str, Any], script_name: str) -> None:
    """Split a built environ's path again at ``script_name``, as
    :func:`build_environ` would have with it: for a mount point learnt
    after the request's environ was built (python -m iiswsgi reads the
    SCRIPT_NAME appSetting at the first request)."""
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    environ["SCRIPT_NAME"], environ["PATH_INFO"] = _iis_paths(
        environ, path, script_name)


def original_url(environ: Dict[str, Any]) -> Optional[str]:
    """HTTP_X_ORIGINAL_URL, unless it holds more than one URL.

    URL Rewrite sets X-Original-URL to the one URL it rewrote; IIS joins a
    request header sent twice into one value with commas.  A value that is
    a list of paths ("/a,/b") did not come from URL Rewrite alone: neither
    is taken (the one IIS mapped, UNENCODED_URL, is), and that is logged,
    since picking either would let a client choose the routing path."""
    value = environ.get("HTTP_X_ORIGINAL_URL")
    if value is None:
        return None
    if _SEVERAL_URLS.search(value):
        log.warning("HTTP_X_ORIGINAL_URL holds more than one URL (%s): the"
                    " client sent X-Original-URL more than once; routing on"
                    " the URL IIS mapped (%s) instead", printable(value),
                    printable(environ.get("UNENCODED_URL")
                              or environ.get("REQUEST_URI") or "-"))
        return None
    return value


def build_environ(params: Dict[str, Any], script_name: Optional[str] = None,
                  trust_original_url: bool = False) -> Dict[str, Any]:
    """Turn a request's FastCGI parameters (latin-1 strings, changed in
    place) into the CGI part of a WSGI environ and return it.

    ``script_name`` forces the mount point (wfastcgi's SCRIPT_NAME
    setting).  ``trust_original_url`` routes on HTTP_X_ORIGINAL_URL even
    when IIS_WasUrlRewritten does not say the URL was rewritten.
    """
    environ = params
    raw = None
    if trust_original_url:
        raw = original_url(environ)
    else:
        rewritten = environ.get("IIS_WasUrlRewritten")
        if rewritten and rewritten.lower() in _TRUE:
            raw = original_url(environ)
    if raw is None:
        raw = environ.get("UNENCODED_URL") or environ.get("REQUEST_URI")
    iis = "APPL_MD_PATH" in environ
    if not raw:
        path = None
    elif (raw[0] == "/" and "?" not in raw and "%" not in raw
          and "/." not in raw and "\\" not in raw and "#" not in raw):
        # The common case: no query, escape, dot segment, backslash or
        # fragment, which request_path would give back unchanged.
        path = raw
    else:
        path = request_path(raw, iis)

    if iis:
        # IIS: SCRIPT_NAME and PATH_INFO both hold the whole path.
        if path is None:
            path = remove_dot_segments(
                environ.get("PATH_INFO") or environ.get("URL") or "/")
        if script_name is not None:
            mount = script_name
        else:
            mount = _mount_of(environ["APPL_MD_PATH"])
        if mount:
            environ["SCRIPT_NAME"], environ["PATH_INFO"] = _iis_paths(
                environ, path, mount)
        else:
            # A site's root application: every path is under it.
            environ["SCRIPT_NAME"] = ""
            environ["PATH_INFO"] = path
    elif script_name is not None:
        if path is None:
            path = remove_dot_segments(environ.get("SCRIPT_NAME", "")
                                       + environ.get("PATH_INFO", ""))
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = _iis_paths(
            environ, path, script_name)
    else:
        script = environ.setdefault("SCRIPT_NAME", "")
        if "PATH_INFO" not in environ:
            if path is not None and path.startswith(script):
                environ["PATH_INFO"] = path[len(script):]
            else:
                environ["PATH_INFO"] = ""

    if "QUERY_STRING" not in environ:
        environ["QUERY_STRING"] = ""
    if not _REQUIRED_NAMES <= environ.keys():
        for name, default in _REQUIRED:
            if name not in environ:
                log.warning("the web server sent no %s; using %r", name,
                            default)
                environ[name] = default
    https = environ.get("HTTPS")
    environ["wsgi.url_scheme"] = (
        "https" if https and https != "off" and https.lower() in _TRUE
        else "http")
    return environ
