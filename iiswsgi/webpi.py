"""Web Platform Installer (WebPI) feeds: the model, the writer, a
structural validator, and WebPI's download caches.

A feed is an Atom document (``<feed xmlns="http://www.w3.org/2005/Atom">``)
whose ``<entry>`` elements are products: Web Deploy packages
(``type="application"``) and the things they depend on.  WebPI compares the
``<sha1>`` of each download with the file it fetched and reads
``<fileSize>`` in KiB.  Microsoft retired WebPI in 2022; the format is
still read by WebPI installations kept running with custom or offline feeds
(``WebpiCmd /Feeds:`` and ``/Offline``) and by tools that read it.

Nothing here knows about distutils: :func:`application_entry` and
:func:`package_entry` take a distribution-like object (``get_name()``,
``get_version()``, ``metadata``, and the iiswsgi setup() keywords as
attributes) or a metadata mapping.
"""

import contextlib
import hashlib
import importlib.metadata
import logging
import math
import os
import re
import shutil
import string
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit
from urllib.request import pathname2url

from . import safexml

__all__ = [
    "ATOM", "Entry", "Feed", "FeedError", "Installer", "URL_FIELDS",
    "WEBPI_FILE_VERSION", "application_entry", "build_time", "check_feed",
    "clean_cache", "default_cache_root", "expand_url", "feed_bytes",
    "feed_element", "feed_id_of",
    "file_digest", "file_url", "format_date", "installed_distribution",
    "keyword_id", "merge_template", "normalize_date", "package_entry",
    "read_feed", "remove_files", "requirement_name", "size_kb",
    "stale_stamps", "validate_feed", "write_atomically", "write_feed"]

log = logging.getLogger("iiswsgi.webpi")

ATOM = "http://www.w3.org/2005/Atom"
# The schema version iiswsgi 0.3 wrote, which WebPI 4 loaded.
WEBPI_FILE_VERSION = "4.0.1.0"
WEB_DEPLOY_PRODUCT = "WDeploy"
DEFAULT_LANGUAGES = (("en", "English"),)
# The placeholders of an MSDeploy download URL template.
URL_FIELDS = ("name", "version", "msdeploy_file", "letter",
              "py_version_short", "msdeploy_package_url")
CACHE_SUBPATH = os.path.join("Microsoft", "Web Platform Installer")


class FeedError(ValueError):
    """A feed cannot be built, or is not one WebPI would read: the message
    names the feed (or setting) and what is wrong."""


# -- the model -------------------------------------------------------------

@dataclass
class Installer:
    """One ``<installer>``: a download (``installer_url`` with its size in
    KiB and SHA-1) installed by Web Deploy (``msdeploy``) or by a command
    line (``command`` = (exe, arguments))."""
    language: str = "en"
    installer_url: str = None
    file_size: int = None
    sha1: str = None
    display_url: str = None
    eula_url: str = None
    help_link: str = None
    msdeploy: bool = False
    start_page: str = ""
    command: tuple = None
    log_files: list = field(default_factory=list)


@dataclass
class Entry:
    product_id: str
    title: str
    id: str
    version: str
    updated: str
    published: str
    summary: str = ""
    long_summary: str = ""
    link: str = None
    author_name: str = None
    author_uri: str = None
    icon: str = None
    screenshot: str = None
    keywords: list = field(default_factory=list)       # keyword texts
    dependencies: list = field(default_factory=list)   # productIds, all of
    related: list = field(default_factory=list)        # productIds
    discovery_file: str = None
    application: bool = False
    product_family: str = "Applications"
    framework_family: str = "Python"
    installers: list = field(default_factory=list)


@dataclass
class Feed:
    id: str
    title: str
    updated: str
    link: str = None
    author_name: str = None
    author_uri: str = None
    entries: list = field(default_factory=list)
    languages: tuple = DEFAULT_LANGUAGES
    version: str = WEBPI_FILE_VERSION


# -- values ----------------------------------------------------------------

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})"
                   r"(?:T(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
                   r"(Z|[+-]\d{2}:?\d{2})?)?$")
_PRODUCT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SHA1 = re.compile(r"^[0-9A-Fa-f]{40}$")
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _text(value):
    """``value`` as text XML 1.0 can hold (control characters dropped)."""
    return _NOT_XML.sub("", str(value))


def format_date(moment):
    """A UTC ISO 8601 timestamp with ``Z``, to the second."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_time(environ=None):
    """Now, or ``SOURCE_DATE_EPOCH`` when set (reproducible feeds)."""
    env = os.environ if environ is None else environ
    epoch = env.get("SOURCE_DATE_EPOCH")
    if epoch:
        try:
            return format_date(datetime.fromtimestamp(int(epoch),
                                                      timezone.utc))
        except (ValueError, OverflowError, OSError):
            raise FeedError("SOURCE_DATE_EPOCH must be a number of seconds"
                            " since 1970, not %r" % epoch) from None
    return format_date(datetime.now(timezone.utc))


def normalize_date(value, what="the date"):
    """``2024-01-31`` or an ISO 8601 date-time as ``2024-01-31T00:00:00Z``;
    FeedError naming ``what`` otherwise."""
    match = _DATE.match(str(value).strip())
    if match:
        year, month, day, hour, minute, second, zone = match.groups()
        try:
            moment = datetime(int(year), int(month), int(day), int(hour or 0),
                              int(minute or 0), int(second or 0),
                              tzinfo=timezone.utc)
        except ValueError:
            moment = None
        if moment is not None:
            if zone and zone != "Z":
                sign = -1 if zone[0] == "-" else 1
                digits = zone[1:].replace(":", "")
                offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
                moment -= timedelta(minutes=offset)
            return format_date(moment)
    raise FeedError("%s must be an ISO 8601 date such as 2024-01-31 or"
                    " 2024-01-31T12:00:00Z, not %r" % (what, value))


def size_kb(size):
    """A size in bytes as WebPI's ``<fileSize>``: KiB, rounded up."""
    return max(1, math.ceil(size / 1024))


def file_digest(path):
    """(size in bytes, upper-case hex SHA-1) of the file at ``path``."""
    digest = hashlib.sha1()
    size = 0
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest().upper()


def file_url(path):
    """The ``file:`` URL of a local path (``file:///C:/...`` on Windows)."""
    url = pathname2url(os.path.abspath(path))
    return "file:" + (url if url.startswith("///") else "//" + url)


def keyword_id(text):
    """A keyword's ``id``: its letters and digits."""
    return re.sub(r"[^A-Za-z0-9]", "", text) or "Keyword"


def requirement_name(requirement):
    """The project name at the start of a requirement string
    (``virtualenv>=20`` gives ``virtualenv``); FeedError when there is
    none."""
    match = _REQUIREMENT.match(requirement)
    if not match:
        raise FeedError("%r is not a project name or requirement"
                        % requirement)
    return match.group(1)


def expand_url(template, values, what="the URL template"):
    """``template`` with its ``{placeholders}`` (:data:`URL_FIELDS`)
    replaced from ``values``; FeedError for an unknown one."""
    try:
        fields = [name for _, name, spec, conversion
                  in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise FeedError("%s %r is not a valid template: %s (write a literal"
                        " brace as {{ or }})" % (what, template, error)) \
            from None
    for name in fields:
        if name not in URL_FIELDS:
            raise FeedError("%s %r uses {%s}; the placeholders are %s" % (
                what, template, name,
                ", ".join("{%s}" % known for known in URL_FIELDS)))
    return template.format_map(values)


def _keywords(value):
    """Keywords from a list or text, split at commas, else at spaces."""
    if not value:
        return []
    words = []
    for item in [value] if isinstance(value, str) else value:
        item = str(item)
        words += item.split(",") if "," in item else item.split()
    return [word.strip() for word in words if word.strip()]


def _unique(items):
    seen, result = set(), []
    for item in items:
        if item and item.lower() not in seen:
            seen.add(item.lower())
            result.append(item)
    return result


def _known(value):
    return None if value in (None, "", "UNKNOWN") else value


# -- entries from distributions --------------------------------------------

def application_entry(dist, package, installer_url, python_product,
                      updated):
    """The ``<entry type="application">`` of ``dist`` (a setuptools
    Distribution) whose Web Deploy zip is ``package``, downloaded from
    ``installer_url``."""
    metadata = dist.metadata
    name = dist.get_name()
    url = _known(metadata.url)
    published = getattr(dist, "published", None)
    size, sha1 = file_digest(package)
    depends = [WEB_DEPLOY_PRODUCT, python_product, "iiswsgi"]
    for keyword in ("webpi_dependencies", "install_msdeploy"):
        depends += [requirement_name(item)
                    for item in getattr(dist, keyword, None) or ()]
    installer = Installer(
        installer_url=installer_url, file_size=size_kb(size), sha1=sha1,
        display_url=getattr(dist, "display_url", None) or url,
        eula_url=getattr(dist, "license_url", None),
        help_link=getattr(dist, "help_url", None) or url, msdeploy=True)
    return Entry(
        product_id=name, title=getattr(dist, "title", None) or name,
        id=url or "urn:iiswsgi:webpi:%s" % name,
        version=dist.get_version(), updated=updated,
        published=normalize_date(
            published, "setup() keyword published of %s" % name)
        if published else updated,
        summary=_known(metadata.description) or name,
        long_summary=_known(metadata.long_description) or "",
        link=url, author_name=_known(metadata.author),
        author_uri=getattr(dist, "author_url", None),
        icon=getattr(dist, "icon_url", None),
        screenshot=getattr(dist, "screenshot_url", None),
        keywords=_keywords(metadata.keywords),
        dependencies=[product for product in _unique(depends)
                      if product.lower() != name.lower()],
        related=_unique(requirement_name(item) for item in
                        getattr(dist, "install_webpi", None) or ()),
        discovery_file=getattr(dist, "discovery_file", None),
        application=True, installers=[installer])


def installed_distribution(requirement):
    """The installed distribution a requirement names, as a metadata
    mapping (``Name``, ``Version``, ``Summary``, ...); FeedError when it
    is not installed."""
    name = requirement_name(requirement)
    try:
        return importlib.metadata.metadata(name)
    except importlib.metadata.PackageNotFoundError:
        raise FeedError(
            "%s (from extras_require['webpi_eggs']) is not installed in"
            " this Python, so its version and description are unknown:"
            " pip install %s" % (name, requirement)) from None


def package_entry(metadata, python_product, python_home, updated):
    """The entry of a Python package WebPI installs with pip into the
    Python at ``python_home`` (a Windows path such as
    ``%SystemDrive%\\Python311``); ``metadata`` is a core-metadata mapping
    (:func:`installed_distribution`)."""
    name = metadata["Name"]
    version = metadata["Version"]
    home = _known(metadata.get("Home-page"))
    for project_url in metadata.get_all("Project-URL") or ():
        label, _, value = project_url.partition(",")
        if home is None and label.strip().lower() in ("homepage", "home"):
            home = value.strip()
    folder = "%s-%s.dist-info" % (re.sub(r"[-_.]+", "_", name), version)
    log_file = "%TEMP%\\" + name + ".log"
    installer = Installer(
        command=(python_home + "\\python.exe",
                 '-m pip install --log "%s" "%s==%s"'
                 % (log_file, name, version)),
        log_files=[log_file], help_link=home)
    author = _known(metadata.get("Author")) or _known(
        metadata.get("Author-email"))
    return Entry(
        product_id=name, title=name, id=home or "urn:iiswsgi:webpi:%s" % name,
        version=version, updated=updated, published=updated,
        summary=_known(metadata.get("Summary")) or name,
        link=home, author_name=author,
        keywords=_keywords(metadata.get("Keywords")),
        dependencies=[python_product],
        discovery_file="%s\\Lib\\site-packages\\%s\\METADATA"
                       % (python_home, folder),
        product_family="Python", installers=[installer])


# -- writing ---------------------------------------------------------------

def _add(parent, tag, text=None, **attributes):
    element = ElementTree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = _text(text)
    return element


def _author(parent, name, uri):
    if name or uri:
        author = _add(parent, "author")
        _add(author, "name", name or uri)
        if uri:
            _add(author, "uri", uri)


def _installer_element(parent, number, installer):
    element = _add(parent, "installer")
    _add(element, "id", str(number))
    _add(element, "languageId", installer.language)
    if installer.eula_url:
        _add(element, "eulaURL", installer.eula_url)
    if installer.installer_url:
        download = _add(element, "installerFile")
        if installer.file_size is not None:
            _add(download, "fileSize", str(installer.file_size))
        _add(download, "installerURL", installer.installer_url)
        if installer.display_url:
            _add(download, "displayURL", installer.display_url)
        if installer.sha1:
            _add(download, "sha1", installer.sha1)
    if installer.command:
        exe, arguments = installer.command
        command = _add(_add(element, "installCommands"), "cmdline")
        _add(command, "exe", exe)
        _add(command, "commandLineArguments", arguments)
        _add(command, "ignoreExitCode", "false")
    if installer.log_files:
        files = _add(element, "logFiles")
        for location in installer.log_files:
            _add(files, "location", location)
    if installer.msdeploy:
        _add(_add(element, "msDeploy"), "startPage", installer.start_page)
    if installer.help_link:
        _add(element, "helpLink", installer.help_link)


def _dependency(parent, products):
    if not products:
        return
    element = _add(parent, "dependency")
    if len(products) == 1:
        _add(element, "productId", products[0])
        return
    every = _add(element, "and")
    for product in products:
        _add(_add(every, "dependency"), "productId", product)


def _entry_element(parent, entry):
    element = _add(parent, "entry")
    if entry.application:
        element.set("type", "application")
    _add(element, "productId", entry.product_id)
    _add(element, "title", entry.title)
    _add(element, "id", entry.id)
    _add(element, "version", entry.version)
    _add(element, "summary", entry.summary)
    if entry.long_summary:
        _add(element, "longSummary", entry.long_summary)
    _add(element, "updated", entry.updated)
    _add(element, "published", entry.published)
    if entry.link:
        _add(element, "link", href=entry.link)
    _author(element, entry.author_name, entry.author_uri)
    if entry.icon or entry.screenshot:
        images = _add(element, "images")
        if entry.icon:
            _add(images, "icon", entry.icon)
        if entry.screenshot:
            _add(images, "screenshot", entry.screenshot)
    if entry.keywords:
        keywords = _add(element, "keywords")
        for word in _unique(keyword_id(text) for text in entry.keywords):
            _add(keywords, "keywordId", word)
    _add(element, "productFamily", entry.product_family)
    if entry.framework_family:
        _add(element, "frameworkFamily", entry.framework_family)
    _dependency(element, entry.dependencies)
    if entry.related:
        related = _add(element, "related")
        for product in entry.related:
            _add(_add(related, "relatedProduct"), "productId", product)
    if entry.discovery_file:
        _add(_add(_add(element, "discoveryHint"), "file"), "filePath",
             entry.discovery_file)
    installers = _add(element, "installers")
    for number, installer in enumerate(entry.installers, 1):
        _installer_element(installers, number, installer)
    return element


def feed_element(feed):
    """The ``<feed>`` Element of ``feed``."""
    root = ElementTree.Element("feed", {"xmlns": ATOM})
    _add(root, "webpiFile", version=feed.version)
    _add(root, "title", feed.title)
    if feed.link:
        _add(root, "link", href=feed.link)
    _add(root, "updated", feed.updated)
    _author(root, feed.author_name, feed.author_uri)
    _add(root, "id", feed.id)
    languages = _add(root, "languages")
    for number, (language, name) in enumerate(feed.languages):
        element = _add(languages, "language")
        if number == 0:
            element.set("default", "true")
        _add(element, "languageId", language)
        _add(element, "name", name)
    words = {}
    for entry in feed.entries:
        for text in entry.keywords:
            words.setdefault(keyword_id(text), text)
    if words:
        keywords = _add(root, "keywords")
        for word, text in words.items():
            _add(keywords, "keyword", text, id=word)
    for entry in feed.entries:
        _entry_element(root, entry)
    return root


def _local(tag):
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else tag


def _product_id(entry):
    element = entry.find("productId")
    return (element.text or "").strip() if element is not None else None


HEADER = ("webpiFile", "title", "link", "updated", "author", "id")
TEMPLATE_WINS = ("title", "link", "author", "id", "languages")


def merge_template(generated, template, source="the template"):
    """``generated`` (a feed Element) laid over ``template`` (a feed read
    with :func:`read_feed`): the template's title, link, author, id and
    languages win; its other feed-level elements (tabs, osList, named
    dependencies) and entries are kept, except entries whose productId is
    generated; keyword declarations are merged."""
    if _local(template.tag) != "feed":
        raise FeedError("%s is not a feed: its root element is <%s>, not"
                        " <feed>" % (source, _local(template.tag)))
    theirs = {_local(child.tag): child for child in template
              if _local(child.tag) in TEMPLATE_WINS}
    ours = {child.tag: child for child in generated}
    root = ElementTree.Element("feed", {"xmlns": ATOM})
    for tag in HEADER + ("languages",):
        element = theirs.get(tag) if tag in TEMPLATE_WINS else None
        if element is None:
            element = ours.get(tag)
        if element is not None:
            root.append(element)
    keywords = ElementTree.SubElement(root, "keywords")
    declared = set()
    for parent in (template, generated):
        for child in parent:
            if _local(child.tag) != "keywords":
                continue
            for keyword in child:
                if keyword.get("id") not in declared:
                    declared.add(keyword.get("id"))
                    keywords.append(keyword)
    if not len(keywords):
        root.remove(keywords)
    generated_ids = {_product_id(entry) for entry in generated.iter("entry")}
    for child in template:
        tag = _local(child.tag)
        if tag in HEADER or tag in ("languages", "keywords") or (
                tag == "entry" and _product_id(child) in generated_ids):
            continue
        root.append(child)
    for entry in generated.findall("entry"):
        root.append(entry)
    return root


def feed_bytes(root):
    """The UTF-8 document of a feed Element, indented."""
    ElementTree.indent(root, "  ")
    body = ElementTree.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body
            + "\n").encode("utf-8")


def write_atomically(path, write):
    """Call ``write`` with a binary stream on a temporary file beside
    ``path``, then rename it to ``path``: readers never see half a file,
    and a failure leaves nothing behind."""
    handle, temporary = tempfile.mkstemp(
        prefix="." + os.path.basename(path) + ".", suffix=".part",
        dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_feed(path, feed, template=None):
    """Write ``feed`` (a :class:`Feed`), laid over the feed file
    ``template`` if given, to ``path``, after checking it with
    :func:`validate_feed`; the bytes written.  FeedError when the result
    is not a valid feed (nothing is written then)."""
    root = feed_element(feed)
    if template:
        root = merge_template(root, read_feed(template), template)
    data = feed_bytes(root)
    check_feed(data, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, lambda stream: stream.write(data))
    log.debug("wrote %s (%d entries)", path, len(feed.entries))
    return data


# -- reading and checking --------------------------------------------------

def read_feed(path):
    """The root Element of the feed file at ``path`` (parsed with
    :mod:`iiswsgi.safexml`); FeedError when it cannot be read or parsed."""
    try:
        return safexml.parse_file(path)
    except OSError as error:
        raise FeedError("the feed %s cannot be read: %s" % (
            path, error.strerror or error)) from None
    except safexml.XMLError as error:
        raise FeedError(str(error)) from None


def feed_id_of(path):
    """The ``<id>`` of the feed file at ``path``, or None when it is not a
    readable feed."""
    try:
        root = safexml.parse_file(path)
    except (OSError, safexml.XMLError) as error:
        log.debug("%s: not a readable feed: %s", path, error)
        return None
    if _local(root.tag) != "feed":
        return None
    for child in root:
        if _local(child.tag) == "id":
            return (child.text or "").strip()
    return None


def _children(element, tag):
    return [child for child in element if _local(child.tag) == tag]


def _child_text(element, tag):
    found = _children(element, tag)
    return (found[0].text or "").strip() if found else None


def _check_url(problems, where, tag, value):
    scheme = urlsplit(value).scheme.lower() if value else ""
    if scheme not in ("http", "https", "file", "ftp"):
        problems.append("%s: <%s> must be an absolute http(s), ftp or file"
                        " URL, not %r" % (where, tag, value))


def _check_date(problems, where, element, tag, required=True):
    value = _child_text(element, tag)
    if value is None:
        if required:
            problems.append("%s: no <%s>" % (where, tag))
    elif not _DATE.match(value):
        problems.append("%s: <%s> %r is not an ISO 8601 date-time"
                        % (where, tag, value))


def _check_dependency(problems, where, element, named):
    kinds = [_local(child.tag) for child in element]
    if element.get("idref") is not None:
        if element.get("idref") not in named:
            problems.append("%s: <dependency idref=%r> names no feed-level"
                            " <dependency id>" % (where,
                                                  element.get("idref")))
        return
    if len(kinds) != 1 or kinds[0] not in ("productId", "and", "or"):
        problems.append("%s: a <dependency> holds one <productId>, <and> or"
                        " <or>, not %s" % (where, kinds or "nothing"))
        return
    child = element[0]
    if kinds[0] == "productId":
        if not _PRODUCT_ID.match((child.text or "").strip()):
            problems.append("%s: dependency productId %r is not a product"
                            " id" % (where, child.text))
        return
    members = list(child)
    if not members or any(_local(m.tag) != "dependency" for m in members):
        problems.append("%s: <%s> must hold <dependency> elements only"
                        % (where, kinds[0]))
    for member in members:
        if _local(member.tag) == "dependency":
            _check_dependency(problems, where, member, named)


def _check_installer(problems, where, installer, languages, numbers,
                     application):
    number = _child_text(installer, "id")
    if number is None or not number.isdigit():
        problems.append("%s: <installer> needs an integer <id>, not %r"
                        % (where, number))
    elif number in numbers:
        problems.append("%s: installer id %s is used twice" % (where,
                                                               number))
    numbers.add(number)
    where = "%s, installer %s" % (where, number)
    ids = [(element.text or "").strip()
           for element in _children(installer, "languageId")]
    if not ids:
        problems.append("%s: no <languageId>" % where)
    for language in ids:
        if language not in languages:
            problems.append("%s: languageId %r is not one of the feed's"
                            " <languages> (%s)" % (
                                where, language,
                                ", ".join(sorted(languages)) or "none"))
    downloads = _children(installer, "installerFile")
    commands = _children(installer, "installCommands")
    if not downloads and not commands:
        problems.append("%s: neither <installerFile> nor <installCommands>"
                        % where)
    for download in downloads:
        _check_url(problems, where, "installerURL",
                   _child_text(download, "installerURL"))
        size = _child_text(download, "fileSize")
        if size is not None and (not size.isdigit() or int(size) < 1):
            problems.append("%s: <fileSize> is a whole number of KiB, not"
                            " %r" % (where, size))
        sha1 = _child_text(download, "sha1")
        if sha1 is not None and not _SHA1.match(sha1):
            problems.append("%s: <sha1> must be 40 hex digits, not %r"
                            % (where, sha1))
    for element in commands:
        for command in element:
            tag = _local(command.tag)
            if tag not in ("cmdline", "msiInstall", "msuInstall"):
                problems.append(
                    "%s: <installCommands> holds <cmdline>, <msiInstall> or"
                    " <msuInstall>, not <%s>%s" % (
                        where, tag, " (WebPI spells it cmdline)"
                        if tag.lower() == "cmdline" else ""))
            elif tag == "cmdline" and not _child_text(command, "exe"):
                problems.append("%s: <cmdline> has no <exe>" % where)
    if application:
        if not _children(installer, "msDeploy"):
            problems.append("%s: an application installer needs <msDeploy>"
                            " (Web Deploy installs it)" % where)
        if not downloads:
            problems.append("%s: an application installer needs an"
                            " <installerFile> (the Web Deploy zip)" % where)


def _check_entry(problems, index, entry, languages, keywords, named, seen):
    product = _child_text(entry, "productId")
    where = "entry %d (%s)" % (index, product)
    if not product or not _PRODUCT_ID.match(product):
        problems.append("entry %d: <productId> must be a product id"
                        " (letters, digits, . _ + -), not %r"
                        % (index, product))
    elif product.lower() in seen:
        problems.append("%s: productId %s is used by another entry (ids"
                        " are unique across every feed WebPI loads)"
                        % (where, product))
    seen.add((product or "").lower())
    for tag in ("title", "id", "version"):
        if not _child_text(entry, tag):
            problems.append("%s: no <%s>" % (where, tag))
    _check_date(problems, where, entry, "updated", required=False)
    _check_date(problems, where, entry, "published", required=False)
    for element in _children(entry, "keywords"):
        for reference in element:
            word = (reference.text or "").strip()
            if word not in keywords:
                problems.append("%s: keywordId %r is not declared in the"
                                " feed's <keywords>" % (where, word))
    for element in _children(entry, "dependency"):
        _check_dependency(problems, where, element, named)
    for element in _children(entry, "related"):
        for related in element:
            if not _child_text(related, "productId"):
                problems.append("%s: <relatedProduct> without <productId>"
                                % where)
    for element in _children(entry, "discoveryHint"):
        for hint in element:
            if _local(hint.tag) not in ("registry", "file", "msiProductCode",
                                        "and", "or", "discoveryHint"):
                problems.append("%s: <discoveryHint> cannot hold <%s>"
                                % (where, _local(hint.tag)))
    application = entry.get("type") == "application"
    installers = [installer for element in _children(entry, "installers")
                  for installer in _children(element, "installer")]
    if not installers:
        problems.append("%s: no <installers><installer>" % where)
    numbers = set()
    for installer in installers:
        _check_installer(problems, where, installer, languages, numbers,
                         application)


def validate_feed(root):
    """The problems that would stop WebPI reading the feed Element
    ``root`` (as :func:`read_feed` returns it), as messages; empty when
    there are none.  The rules are those of the TechNet "Web PI feed
    schema" pages as the project's reference notes gather them."""
    problems = []
    if _local(root.tag) != "feed":
        return ["the root element is <%s>, not <feed>" % _local(root.tag)]
    if root.get("xmlns") not in (None, ATOM) or (
            root.get("xmlns") is None and root.tag != "{%s}feed" % ATOM):
        problems.append("<feed> must be in the Atom namespace:"
                        ' xmlns="%s"' % ATOM)
    children = list(root)
    if not children or _local(children[0].tag) != "webpiFile":
        problems.append("the first child of <feed> must be <webpiFile"
                        ' version="...">')
    for element in _children(root, "webpiFile"):
        if not re.match(r"^\d+(\.\d+){1,3}$", element.get("version", "")):
            problems.append("<webpiFile version=%r> is not a dotted version"
                            % element.get("version"))
    for tag in ("title", "id"):
        if not _child_text(root, tag):
            problems.append("the feed has no <%s>" % tag)
    _check_date(problems, "the feed", root, "updated")
    languages = set()
    for element in _children(root, "languages"):
        defaults = 0
        for language in _children(element, "language"):
            languages.add(_child_text(language, "languageId") or "")
            defaults += language.get("default") == "true"
        if defaults > 1:
            problems.append("<languages> has %d default languages" %
                            defaults)
    keywords = {keyword.get("id") for element in _children(root, "keywords")
                for keyword in _children(element, "keyword")}
    named = {element.get("id") for element in _children(root, "dependency")}
    seen = set()
    for index, entry in enumerate(_children(root, "entry"), 1):
        _check_entry(problems, index, entry, languages, keywords, named,
                     seen)
    return problems


def check_feed(data, source="the feed"):
    """Parse ``data`` (bytes) with safexml and validate it; FeedError
    listing every problem, naming ``source``."""
    try:
        root = safexml.parse(data, source)
    except safexml.XMLError as error:
        raise FeedError(str(error)) from None
    problems = validate_feed(root)
    if problems:
        raise FeedError("%s is not a valid WebPI feed:\n  %s" % (
            source, "\n  ".join(problems)))
    return root


# -- WebPI's caches --------------------------------------------------------

def default_cache_root(environ=None):
    """``%LOCALAPPDATA%\\Microsoft\\Web Platform Installer``, or None when
    LOCALAPPDATA is not set (not Windows)."""
    env = os.environ if environ is None else environ
    base = env.get("LOCALAPPDATA")
    return os.path.join(base, CACHE_SUBPATH) if base else None


def _remove(path, dry_run):
    if dry_run:
        log.debug("would remove %s", path)
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)
    log.debug("removed %s", path)


def clean_cache(root, product_ids, feed_ids, dry_run=False):
    """Remove WebPI's cached downloads of ``product_ids``
    (``installers\\<productId>``, names compared in any case) and its
    cached copies of the feeds whose ``<id>`` is in ``feed_ids`` (the
    ``*.xml`` files directly in ``root``).  With ``dry_run`` nothing is
    removed.  The paths removed (or that would be)."""
    if not os.path.isdir(root):
        log.info("no WebPI cache at %s: nothing to clean", root)
        return []
    removed = []
    installers = os.path.join(root, "installers")
    cached = os.listdir(installers) if os.path.isdir(installers) else []
    for product in product_ids:
        matches = [name for name in cached if name.lower() == product.lower()]
        if not matches:
            log.info("%s: no cached download in %s", product, installers)
        for name in matches:
            path = os.path.join(installers, name)
            _remove(path, dry_run)
            removed.append(path)
    wanted = {feed_id for feed_id in feed_ids if feed_id}
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if not name.lower().endswith(".xml") or not os.path.isfile(path):
            continue
        if feed_id_of(path) in wanted:
            _remove(path, dry_run)
            removed.append(path)
    if wanted and not any(path.lower().endswith(".xml") for path in removed):
        log.info("no cached copy of the feed %s in %s",
                 ", ".join(sorted(wanted)), root)
    return removed


def stale_stamps(app_names, list_sites, stamp):
    """The install stamps (file name ``stamp``) left in the folders of the
    IIS applications named ``app_names`` (the package's ``<iisApp
    path>``; IIS's numbered copies such as ``MyApp2`` included);
    ``list_sites`` returns :class:`iiswsgi.iis.appcmd.Site` objects.  A stamp
    left behind means an install that did not finish, and would mislead
    the next ``iiswsgi_install``."""
    patterns = [re.compile(r"^%s\d*$" % re.escape(name), re.IGNORECASE)
                for name in app_names if name]
    found = []
    for site in list_sites():
        for application in site.applications:
            last = application.path.rstrip("/").rsplit("/", 1)[-1]
            for directory in application.virtual_directories:
                base = os.path.basename(
                    directory.expanded_path.replace("\\", "/").rstrip("/"))
                if not any(p.match(last) or p.match(base) for p in patterns):
                    continue
                path = os.path.join(directory.expanded_path, stamp)
                if os.path.isfile(path) and path not in found:
                    found.append(path)
    return found


def remove_files(paths, dry_run=False):
    """Remove each of ``paths`` (or log that it would)."""
    for path in paths:
        _remove(path, dry_run)
    return list(paths)
