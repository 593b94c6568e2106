"""Publish built files (MSDeploy zips, WebPI feeds) where WebPI can
download them: a directory or UNC share, or HTTP(S) PUT to a URL template
(blob storage with a SAS token, a WebDAV folder, ...).

Every file is written, then read back and checked (size and SHA-1).  A
transient failure (a connection error, a timeout, 408, 429 or 5xx, an
``OSError`` on a share, a read-back that differs) is retried, waiting
``delay`` seconds and doubling it each time.

``${NAME}`` in the destination and in header values is taken from the
environment, so tokens stay out of setup.cfg and the command line.
Credentials never reach a message: query strings and user:password parts
of URLs are shown as ``[redacted]``, and the values of headers (but for a
few that hold no secret, such as ``x-ms-blob-type``), path segments that
look like tokens and any value taken from the environment are masked
wherever they appear, server answers echoing them included.  A destination
that is not a valid URL (a space, a control character, a bad port) is
refused before anything is sent, showing it redacted.
"""

import http.client
import logging
import os
import re
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import (Callable, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit
from urllib.request import url2pathname

from .errors import IISWSGIError
from .files import write_atomically
from .redaction import REDACTED, Redactor, secret_values
from .protocol.cgi import TOKEN
from .webpi.values import file_digest, stream_digest

__all__ = ["PublishError", "Published", "content_type", "parse_destination",
           "publish", "redact"]

log = logging.getLogger("iiswsgi.publish")

TRANSIENT_STATUS = (408, 425, 429, 500, 502, 503, 504)
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_URL = re.compile(r"\b(?:https?|ftp)://[^\s'\"<>]+", re.IGNORECASE)
_HEADER = re.compile(r"^\s*(" + TOKEN + r")\s*:\s*(.*?)\s*$")
# What a URL or a header value may not hold: http.client refuses these,
# with the whole URL (token included) in its message.
_BAD_URL_CHARACTER = re.compile(r"[\x00-\x20\x7f-\U0010ffff]")
_BAD_HEADER_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Headers whose values are no secret, shown as they are.
_PLAIN_HEADERS = frozenset(("content-type", "x-ms-blob-type", "x-ms-version",
                            "x-ms-blob-content-type", "cache-control",
                            "accept", "user-agent", "content-encoding"))


class PublishError(IISWSGIError):
    """A file could not be published; the message is already redacted."""


class _Transient(Exception):
    """A failure worth another attempt: control flow inside
    :func:`publish`, which retries, then raises :class:`PublishError`."""


def _redact_url(match):
    base, mark, rest = match.group(0).partition("?")
    try:
        parts = urlsplit(base)
    except ValueError:
        # Not a URL urllib can take apart ("http://[bad"): hide it all.
        return REDACTED
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    text = urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))
    return text + mark + (REDACTED if rest else "")


def _query_secrets(url):
    """The secret parts of a URL: its query string, each query value, its
    password, and the path segments that look like tokens."""
    parts = urlsplit(url)
    found = [parts.query, parts.password]
    found += [value for _, value in parse_qsl(parts.query)]
    for segment in parts.path.split("/"):
        found += secret_values(segment)
    return [item for item in found if item and len(item) > 2]


def _header_secrets(name, value):
    """What to hide of a header's value: all of it (and the credentials
    after an ``Authorization`` scheme word) unless the header is plain."""
    if name.lower() in _PLAIN_HEADERS:
        return []
    found = [value]
    scheme, _, credentials = value.partition(" ")
    if credentials.strip():
        found.append(credentials.strip())
    return [item for item in found if len(item) > 2]


def _check_url(text, secrets):
    """PublishError, showing ``text`` redacted, when it is no URL
    http.client can send."""
    bad = _BAD_URL_CHARACTER.search(text)
    if bad:
        character = bad.group(0)
        what = {" ": "a space", "\t": "a tab", "\n": "a line break",
                "\r": "a line break"}.get(
            character, "the character U+%04X" % ord(character))
        raise PublishError(
            "the destination %s holds %s at position %d: percent-encode it"
            " (a space is %%20)" % (redact(text, secrets), what,
                                     bad.start() + 1))
    parts = urlsplit(text)
    try:
        parts.port
    except ValueError:
        raise PublishError("the destination %s has a bad port: give"
                           " host:NUMBER" % redact(text, secrets)) from None
    if not parts.hostname:
        raise PublishError("the destination %s names no host"
                           % redact(text, secrets))


def redact(text: object, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret value, URL query string and URL
    user:password replaced by ``[redacted]``."""
    return Redactor(secrets).redact(_URL.sub(_redact_url, str(text)))


def _expand(text, environ, secrets, what):
    def replace(match):
        name = match.group(1)
        value = environ.get(name)
        if value is None:
            raise PublishError("%s uses ${%s}, but the environment variable"
                               " %s is not set" % (what, name, name))
        secrets.append(value)
        return value
    return _VARIABLE.sub(replace, text)


def content_type(filename: str) -> str:
    name = filename.lower()
    if name.endswith(".zip"):
        return "application/zip"
    if name.endswith(".xml"):
        return "application/atom+xml" if name.endswith(".webpi.xml") else (
            "application/xml")
    return "application/octet-stream"


@dataclass
class Published:
    filename: str
    size: int
    sha1: str
    location: str          # redacted
    attempts: int


class _Destination:
    secrets: list

    def show(self, filename: str) -> str:
        return redact(self.location(filename), self.secrets)


@dataclass
class DirectoryDestination(_Destination):
    """A local folder or a UNC share (``\\\\server\\share\\folder``)."""
    path: str
    secrets: list = field(default_factory=list)

    def check(self) -> None:
        if not os.path.isdir(self.path):
            raise PublishError(
                "the destination folder %s does not exist (or is not a"
                " folder): create it, or check the share is reachable"
                % redact(self.path, self.secrets))

    def location(self, filename: str) -> str:
        return os.path.join(self.path, filename)

    def put(self, path: str, filename: str, size: int) -> None:
        target = self.location(filename)

        def copy(stream):
            with open(path, "rb") as source:
                shutil.copyfileobj(source, stream, 1 << 20)
        try:
            write_atomically(target, copy)
        except (PermissionError, IsADirectoryError) as error:
            raise PublishError("cannot write %s: %s" % (
                self.show(filename), error.strerror or error)) from None
        except OSError as error:
            raise _Transient(error.strerror or str(error)) from None

    def read_back(self, filename: str) -> Tuple[int, str]:
        try:
            return file_digest(self.location(filename))
        except OSError as error:
            raise _Transient("reading it back failed: %s" % (
                error.strerror or error)) from None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: credentials go to the URL given only."""

    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class HttpDestination(_Destination):
    """HTTP(S) PUT to ``template``; ``{filename}`` is the file's name
    (percent-encoded), else the name is added to the URL's path."""
    template: str
    headers: dict = field(default_factory=dict)
    secrets: list = field(default_factory=list)
    timeout: float = 60.0

    def check(self) -> None:
        pass

    def location(self, filename: str) -> str:
        name = quote(filename)
        if "{filename}" in self.template:
            return self.template.replace("{filename}", name)
        parts = urlsplit(self.template)
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        return urlunsplit((parts.scheme, parts.netloc, path + name,
                           parts.query, parts.fragment))

    def _open(self, request, filename):
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            return opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:
            try:
                body = error.read(300).decode("utf-8", "replace")
            except OSError:
                body = ""
            body = " ".join(body.split())
            message = "%s %s answered %d %s%s" % (
                request.get_method(), self.show(filename), error.code,
                error.reason, (": " + body) if body else "")
            error.close()
            if error.code in TRANSIENT_STATUS:
                raise _Transient(redact(message, self.secrets)) from None
            hint = {401: " (check the credentials or token)",
                    403: " (check the credentials or token, and that it"
                         " allows writing)",
                    404: " (check the URL template and that the container"
                         " or folder exists)"}.get(error.code, "")
            if 300 <= error.code < 400:
                hint = " (redirects are not followed, so credentials are" \
                       " not sent elsewhere: give the final URL)"
            raise PublishError(redact(message + hint, self.secrets)) \
                from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", None) or error
            raise _Transient(redact("%s %s failed: %s" % (
                request.get_method(), self.show(filename), reason),
                self.secrets)) from None
        except (http.client.HTTPException, ValueError) as error:
            # An URL or header http.client refuses (checked up front, so
            # this is a file name's doing): its message holds the URL.
            raise PublishError(redact("%s %s: %s: %s" % (
                request.get_method(), self.show(filename),
                type(error).__name__, error), self.secrets)) from None

    def put(self, path: str, filename: str, size: int) -> None:
        headers = {"Content-Type": content_type(filename),
                   "Content-Length": str(size)}
        headers.update(self.headers)
        with open(path, "rb") as body:
            request = urllib.request.Request(
                self.location(filename), data=body, headers=headers,
                method="PUT")
            with self._open(request, filename) as response:
                response.read()

    def read_back(self, filename: str) -> Tuple[int, str]:
        request = urllib.request.Request(self.location(filename),
                                         headers=dict(self.headers))
        with self._open(request, filename) as response:
            try:
                return stream_digest(response)
            except OSError as error:
                raise _Transient(redact(
                    "reading %s back failed: %s" % (self.show(filename),
                                                    error),
                    self.secrets)) from None


Destination = Union[DirectoryDestination, HttpDestination]


def parse_destination(destination: str, headers: Iterable[str] = (),
                      environ: Optional[Mapping[str, str]] = None,
                      timeout: float = 60.0) -> Destination:
    """A destination from its text: an ``http://`` or ``https://`` URL
    template, a ``file:`` URL, or a folder path (UNC shares included).
    ``headers`` are ``"Name: value"`` lines, for HTTP only."""
    env = os.environ if environ is None else environ
    secrets = []
    if not destination or not destination.strip():
        raise PublishError("no destination: give --destination (-r), or set"
                           " destination in setup.cfg")
    text = _expand(destination.strip(), env, secrets, "the destination")
    scheme = urlsplit(text).scheme.lower()
    parsed = {}
    for line in headers:
        if not line.strip():
            continue
        match = _HEADER.match(line)
        if not match:
            raise PublishError("the header %r is not 'Name: value'"
                               % redact(line.split(":", 1)[0], secrets))
        name = match.group(1)
        value = _expand(match.group(2), env, secrets, "the header " + name)
        secrets += _header_secrets(name, value)
        if _BAD_HEADER_CHARACTER.search(value):
            raise PublishError("the header %s holds a control character"
                               " (a line break?): give its value on one"
                               " line" % name)
        parsed[name] = value
    if scheme in ("http", "https"):
        secrets += _query_secrets(text)
        _check_url(text, secrets)
        return HttpDestination(text, parsed, secrets, timeout)
    if parsed:
        raise PublishError("headers (--header) are for http(s)://"
                           " destinations only, not %s"
                           % redact(text, secrets))
    if scheme == "file":
        parts = urlsplit(text)
        path = url2pathname(parts.path)
        if parts.netloc and parts.netloc != "localhost":
            path = "\\\\" + parts.netloc + path.replace("/", "\\")
        return DirectoryDestination(path, secrets)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]+://", text):
        raise PublishError("cannot publish to %s: the destination is a"
                           " folder, a UNC share, or an http(s):// URL"
                           % redact(text, secrets))
    return DirectoryDestination(os.path.expanduser(text), secrets)


def _publish_one(destination, path, attempts, delay, verify, progress,
                 sleep):
    filename = os.path.basename(path)
    size, sha1 = file_digest(path)
    where = destination.show(filename)
    progress("publishing %s (%d bytes, sha1 %s) to %s" % (
        filename, size, sha1, where))
    wait = delay
    for attempt in range(1, attempts + 1):
        try:
            destination.put(path, filename, size)
            if verify:
                got_size, got_sha1 = destination.read_back(filename)
                if (got_size, got_sha1) != (size, sha1):
                    raise _Transient(
                        "read back %d bytes with sha1 %s, not %d bytes with"
                        " sha1 %s" % (got_size, got_sha1, size, sha1))
            progress("published %s: %d bytes%s%s" % (
                filename, size,
                ", size and sha1 read back and verified" if verify else "",
                "" if attempt == 1 else " (attempt %d)" % attempt))
            return Published(filename, size, sha1, where, attempt)
        except _Transient as error:
            reason = redact(error, destination.secrets)
            if attempt == attempts:
                raise PublishError(
                    "publishing %s to %s failed after %d attempt%s: %s" % (
                        filename, where, attempts,
                        "" if attempts == 1 else "s", reason)) from None
            progress("%s: attempt %d of %d failed: %s; retrying in %gs" % (
                filename, attempt, attempts, reason, wait))
            sleep(wait)
            wait *= 2


def publish(paths: Sequence[str], destination: Destination,
            attempts: int = 4, delay: float = 2.0, verify: bool = True,
            progress: Optional[Callable[[str], None]] = None,
            sleep: Callable[[float], None] = time.sleep
            ) -> List[Published]:
    """Publish each file of ``paths`` to ``destination`` (from
    :func:`parse_destination`), in order; the :class:`Published` records.
    ``progress`` gets one line per file and per retry (default: the
    log).  PublishError (redacted) on the first file that fails."""
    if progress is None:
        def progress(line):
            log.info("%s", line)
    if attempts < 1:
        raise PublishError("attempts must be at least 1, not %r" % attempts)
    missing = [path for path in paths if not os.path.isfile(path)]
    if missing:
        raise PublishError("nothing published: %s %s not exist" % (
            ", ".join(missing), "does" if len(missing) == 1 else "do"))
    destination.check()
    return [_publish_one(destination, path, attempts, delay, verify,
                         progress, sleep) for path in paths]
