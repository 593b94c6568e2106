"""Secrets kept out of text: the log, error pages, messages.

A value is secret by the name of the setting that holds it
(``WSGI_PTVSD_SECRET``, ``*PASSWORD*``, ``*TOKEN*``, ``*KEY*``, connection
strings, ...) or by its shape, whatever its name:

* a connection string's ``Password=``, ``Pwd=``, ``AccountKey=``,
  ``SharedAccessKey=``, ``SharedAccessSignature=`` or ``sig=`` part;
* the password of a URL (``postgres://user:password@host/db``) and the
  secret-named values of its query string (``?sig=...&token=...``);
* a key or token: a JWT, an AWS access key id, a run of 32 or more base64
  or hex characters.

:func:`protect_secrets` registers the secret values among a mapping of
settings (the appSettings, ``os.environ``); each is then hidden in every
form it is usually written in: as it is, escaped as by ``repr()`` and by
JSON, percent-encoded (``quote`` and ``quote_plus``), and base64-encoded at
any of the three byte alignments (standard and URL-safe alphabets).

Text is also searched for the shapes that announce a secret wherever it
comes from (``Password=...``, ``://user:password@``, JWTs, AWS key ids),
so a secret the application built itself is hidden too.  Long base64 and
hex runs are taken as secrets only as setting values, never in free text:
digests and hashes in messages stay readable.

The log's handlers (:mod:`iiswsgi.logs`) and the gateway's error pages call
:func:`redact`; ``iiswsgi doctor`` calls :func:`redact_text` with the
environment it loads a site with.
"""

import re
import threading
from typing import Any, Iterable, List, Mapping, Optional, Set
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = ["REDACTED", "Redactor", "add_secret", "encodings",
           "is_secret_name", "protect_secrets", "redact", "redact_text",
           "redact_value", "secret_values"]

REDACTED = "[redacted]"

_SECRET_NAME = re.compile(
    r"SECRET|PASSWORD|PASSWD|PASSPHRASE|PWD|TOKEN|KEY|CONNECTION_?STRING"
    r"|CONN_?STR|CREDENTIAL|SIGNATURE|PRIVATE|(?:^|_)(?:SAS|AUTH|DSN)(?:_|$)",
    re.IGNORECASE)
# Names that look secret and are not (the working directory, a socket).
_NOT_SECRET_NAMES = frozenset(("PWD", "OLDPWD", "SSH_AUTH_SOCK"))
# Values too common to be anyone's secret (and to redact everywhere).
_NOT_SECRET = frozenset(("true", "false", "yes", "no", "on", "off", "none",
                         "null"))
_MIN_SECRET = 4
# A base64 fragment shorter than this is too likely to occur by chance.
_MIN_BASE64 = 8

# -- shapes ------------------------------------------------------------------

# The keys of a connection string (or a query string) whose value is secret.
_SECRET_KEYS = (r"password|pwd|passwd|accountkey|sharedaccesskey"
                r"|sharedaccesssignature|sig|clientsecret|client_secret")
# key=value, the value quoted ('...', "...", {...} as ODBC writes it) or
# running to the next separator (a closing quote or bracket after it, as
# in a repr()'d dict, is left out).
_KEY_VALUE = re.compile(
    r"(?i:(?<![A-Za-z0-9_])(?:" + _SECRET_KEYS + r")\s*=\s*)"
    r"('[^']*'|\"[^\"]*\"|\{[^}]*\}"
    r"|[^;&\s'\"<>,](?:[^;&\s<>,]*[^;&\s'\"<>,)}\]])?)")
# scheme://user:password@
_USERINFO = re.compile(
    r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:'\"<>]*:([^\s/?#@'\"<>]+)@")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}"
                  r"\.[A-Za-z0-9_-]*")
_AWS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")
# Only in setting values (see the module's documentation).
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{32,}={0,2}")
_HEX_RUN = re.compile(r"(?<![0-9A-Fa-f])[0-9A-Fa-f]{32,}(?![0-9A-Fa-f])")

#: The shapes searched for in every text, each with what a text must
#: hold for the shape to be there (a cheap test that spares most texts the
#: regular expression), and whether that test is on the text in lower case.
_TEXT_SHAPES = (
    (_KEY_VALUE, ("password", "pwd", "passwd", "accountkey", "sharedaccess",
                  "sig", "clientsecret", "client_secret"), True),
    (_USERINFO, ("://",), False),
    (_JWT, ("eyJ",), False),
    (_AWS_KEY_ID, ("AKIA", "ASIA"), False),
)


def _looks_random(run: str) -> bool:
    """A base64 run that looks like a key, not a path or a name: digits,
    letters of both cases mixed as chance mixes them (a path such as
    ``/srv/site/Lib/site-packages`` has one capital), a long piece between
    dashes, underscores and slashes, and few slashes."""
    letters = [c for c in run if c.isalpha()]
    upper = sum(c.isupper() for c in letters)
    # Names joined by - _ / (IISFCGI-<guid>, a-path/like-this) have no long
    # piece; a key's pieces are long.
    longest = max(len(piece) for piece in re.split(r"[-_/]", run))
    return (sum(c.isdigit() for c in run) >= 2 and bool(letters)
            and 0.15 <= upper / len(letters) <= 0.85 and longest >= 16
            and run.count("/") * 10 <= len(run))


def _unquote_value(value: str) -> str:
    if len(value) >= 2 and (value[0], value[-1]) in (
            ("'", "'"), ('"', '"'), ("{", "}")):
        return value[1:-1]
    return value


def secret_values(value: Any, name: Optional[str] = None) -> List[str]:
    """The secrets in one setting's ``value``: all of it when ``name``
    says it is secret, else the parts whose shape says so (a connection
    string's password, a URL's password and secret query values, a key or
    token).  Empty when nothing in it is secret."""
    text = str(value or "").strip()
    if not text:
        return []
    found = []
    if is_secret_name(name):
        found.append(text)
    for match in _KEY_VALUE.finditer(text):
        found.append(_unquote_value(match.group(1)))
    for match in _USERINFO.finditer(text):
        found.append(match.group(1))
        found.append(unquote(match.group(1)))
    if "://" in text and "?" in text:
        try:
            query = urlsplit(text).query
        except ValueError:
            query = ""
        for part in query.split("&"):
            key, _, part_value = part.partition("=")
            if part_value and is_secret_name(key.replace("-", "_")):
                found += [part_value, unquote(part_value)]
    # A connection string's parts named as secrets (InstrumentationKey=).
    if "=" in text and ";" in text:
        for part in text.split(";"):
            key, _, part_value = part.partition("=")
            if part_value.strip() and is_secret_name(key.strip()):
                found.append(part_value.strip())
    found += [m.group(0) for m in _JWT.finditer(text)]
    found += [m.group(0) for m in _AWS_KEY_ID.finditer(text)]
    found += [m.group(0) for m in _HEX_RUN.finditer(text)
              if not m.group(0).isdigit()]
    found += [m.group(0) for m in _BASE64_RUN.finditer(text)
              if _looks_random(m.group(0))]
    unique = []
    for item in found:
        if (len(item) >= _MIN_SECRET and item.lower() not in _NOT_SECRET
                and item not in unique):
            unique.append(item)
    return unique


def _base64_forms(value: str) -> Set[str]:
    """The parts of ``value``'s base64 encoding that do not depend on the
    bytes around it, for each of the three alignments it can start at."""
    import base64  # only once a secret is registered
    data = value.encode("utf-8")
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode("ascii")
        start = -(-8 * offset // 6)            # ceil: the first pure digit
        end = 8 * (offset + len(data)) // 6    # floor: after the last one
        fragment = encoded[start:end]
        if len(fragment) >= _MIN_BASE64:
            forms.add(fragment)
            forms.add(fragment.translate(str.maketrans("+/", "-_")))
    return forms


def encodings(value: str) -> Set[str]:
    """``value`` in the forms it is usually written in: as it is,
    ``repr()``-escaped (either quote), JSON-escaped, percent-encoded
    (``quote`` with and without ``/`` safe, ``quote_plus``) and base64
    (every alignment, both alphabets)."""
    import json  # only once a secret is registered: not at every start
    forms = {value, repr(value)[1:-1], repr("'\"" + value)[4:-1],
             json.dumps(value)[1:-1],
             json.dumps(value, ensure_ascii=False)[1:-1],
             quote(value, safe=""), quote(value), quote_plus(value)}
    forms |= _base64_forms(value)
    return forms


def _trie_pattern(words: Iterable[str]) -> str:
    """One regular expression matching any of ``words``, longest first,
    with common prefixes factored out (``ab(?:c|d)``), so a scan tries
    each character against one branch per prefix instead of against every
    word: what keeps a log line cheap with hundreds of forms registered."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def chain(char, node):
        # A run of nodes with one child each is one literal, built without
        # recursing (a PEM key is thousands of characters long).
        text = [char]
        while len(node) == 1 and "" not in node:
            (char, node), = node.items()
            text.append(char)
        return re.escape("".join(text)) + build(node)

    def build(node):
        # The end of a word ("") sorts last among the branches: longer
        # matches first.
        branches = []
        for char in sorted(node, key=lambda c: (c == "", c)):
            if char == "":
                branches.append("")
            else:
                branches.append(chain(char, node[char]))
        if len(branches) == 1:
            return branches[0]
        if branches[-1] == "":
            body = "|".join(branches[:-1])
            return "(?:%s)?" % body
        return "(?:%s)" % "|".join(branches)
    return build(trie)


class Redactor:
    """Secrets to hide from text: each is replaced by ``marker`` in every
    form :func:`encodings` gives, longest first, so a secret holding
    another is hidden whole.  Values shorter than ``min_length`` or in
    ``ignore`` (lower case) are not taken.  With ``shapes``, text is also
    searched for the shapes that announce a secret (``Password=``, a URL's
    password, a JWT, an AWS key id).

    The pattern is compiled once per set of secrets (when one is added),
    with common prefixes factored out (:func:`_trie_pattern`), so
    :meth:`redact` costs one regular-expression scan of the text, plus one
    per shape whose telltale (``password``, ``://``, ``eyJ``...) the text
    holds."""

    def __init__(self, secrets: Iterable[Any] = (), marker: str = REDACTED,
                 min_length: int = 1, ignore: Iterable[str] = (),
                 shapes: bool = True) -> None:
        self.marker = marker
        self.min_length = min_length
        self.ignore = frozenset(ignore)
        self.shapes = shapes
        self._forms: Set[str] = set()
        self._pattern: Optional["re.Pattern[str]"] = None
        self._lock = threading.Lock()
        self.add(*secrets)

    def add(self, *values: Any) -> None:
        """Hide each of ``values`` from now on."""
        forms = set()
        for value in values:
            value = str(value or "")
            if (len(value) < self.min_length
                    or value.lower() in self.ignore):
                continue
            forms |= {form for form in encodings(value)
                      if len(form) >= self.min_length}
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            self._pattern = re.compile(_trie_pattern(self._forms))

    def _shape(self, match):
        # The group that matched holds the secret; 0: all of the match.
        text = match.group(0)
        for index in range(1, (match.lastindex or 0) + 1):
            secret = match.group(index)
            if secret is not None:
                start = match.start(index) - match.start(0)
                return (text[:start] + self.marker
                        + text[start + len(secret):])
        return self.marker

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by the marker."""
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(self.marker, text)
        if self.shapes:
            lower = None
            for shape, hints, folded in _TEXT_SHAPES:
                if folded:
                    if "=" not in text:
                        continue
                    if lower is None:
                        lower = text.lower()
                    haystack = lower
                else:
                    haystack = text
                if any(hint in haystack for hint in hints):
                    text = shape.sub(self._shape, text)
        return text


# The process's secrets: what the log handlers and error pages hide.
_registry = Redactor(min_length=_MIN_SECRET, ignore=_NOT_SECRET)


def is_secret_name(name: Optional[str]) -> bool:
    """True for a setting whose name says its value is secret."""
    name = (name or "").strip()
    return (bool(_SECRET_NAME.search(name))
            and name.upper() not in _NOT_SECRET_NAMES)


def add_secret(value: Any) -> None:
    """Never write ``value`` to the log (nor to an error page), nor the
    secret parts of it (a connection string's ``Password=...``, a URL's
    password), in any of their usual encodings."""
    value = str(value or "").strip()
    _registry.add(value, *secret_values(value))


def protect_secrets(settings: Mapping[str, Any]) -> None:
    """Register the secrets among ``settings`` (a mapping, such as the
    appSettings or ``os.environ``): the values whose name says they are
    secret, and the secret parts of every other value
    (:func:`secret_values`)."""
    for name, value in settings.items():
        _registry.add(*secret_values(value, name))


def redact(text: str) -> str:
    """``text`` with every registered secret, and every secret its shape
    gives away, replaced by ``[redacted]``."""
    return _registry.redact(text)


def redact_text(text: str, environ: Optional[Mapping[str, Any]] = None
                ) -> str:
    """``text`` with the process's registered secrets, and those among
    ``environ`` (settings by name: the environment a site is loaded with),
    replaced by ``[redacted]``; for text that does not go through the log,
    such as ``iiswsgi doctor``'s tracebacks."""
    text = redact(text)
    if environ:
        secrets = []
        for name, value in environ.items():
            secrets += secret_values(value, name)
        text = Redactor(secrets, min_length=_MIN_SECRET, ignore=_NOT_SECRET,
                        shapes=False).redact(text)
    return text


def redact_value(name: str, value: Any) -> str:
    """One setting's value as it may be shown: ``[redacted]`` when its
    name says it is secret, else with its secret parts redacted
    (``postgres://user:[redacted]@host``)."""
    if is_secret_name(name):
        return REDACTED
    text = str(value)
    return Redactor(secret_values(text), min_length=_MIN_SECRET,
                    ignore=_NOT_SECRET).redact(text)
