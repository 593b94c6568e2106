"""Writing a feed: the XML elements of a :class:`~.model.Feed`, laid over
a template feed when one is given, checked by the validator and written
at once (:func:`iiswsgi.files.write_atomically`)."""

import logging
import os
import xml.etree.ElementTree as ElementTree
from typing import Optional, Sequence

from .. import safexml
from ..files import write_atomically
from .errors import FeedError
from .model import ATOM, Entry, Feed, Installer
from .reader import child_text, local_name, read_feed
from .validator import check_feed
from .values import keyword_id, unique, xml_text

__all__ = ["HEADER", "TEMPLATE_WINS", "feed_bytes", "feed_element",
           "merge_template", "write_feed"]

log = logging.getLogger("iiswsgi.webpi.writer")

HEADER = ("webpiFile", "title", "link", "updated", "author", "id")
TEMPLATE_WINS = ("title", "link", "author", "id", "languages")


def _add(parent, tag, text=None, **attributes):
    element = ElementTree.SubElement(parent, tag, attributes)
    if text is not None:
        element.text = xml_text(text)
    return element


def _author(parent, name, uri):
    if name or uri:
        author = _add(parent, "author")
        _add(author, "name", name or uri)
        if uri:
            _add(author, "uri", uri)


def _installer_element(parent: ElementTree.Element, number: int,
                       installer: Installer) -> None:
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


def _dependency(parent: ElementTree.Element, products: Sequence[str]) -> None:
    if not products:
        return
    element = _add(parent, "dependency")
    if len(products) == 1:
        _add(element, "productId", products[0])
        return
    every = _add(element, "and")
    for product in products:
        _add(_add(every, "dependency"), "productId", product)


def _entry_element(parent: ElementTree.Element,
                   entry: Entry) -> ElementTree.Element:
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
        for word in unique(keyword_id(text) for text in entry.keywords):
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


def feed_element(feed: Feed) -> ElementTree.Element:
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


def merge_template(generated: ElementTree.Element,
                   template: ElementTree.Element,
                   source: str = "the template") -> ElementTree.Element:
    """``generated`` (a feed Element) laid over ``template`` (a feed read
    with :func:`~.reader.read_feed`): the template's title, link, author,
    id and languages win; its other feed-level elements (tabs, osList,
    named dependencies) and entries are kept, except entries whose
    productId is generated; keyword declarations are merged."""
    if local_name(template.tag) != "feed":
        raise FeedError("%s is not a feed: its root element is <%s>, not"
                        " <feed>" % (source, local_name(template.tag)))
    theirs = {local_name(child.tag): child for child in template
              if local_name(child.tag) in TEMPLATE_WINS}
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
            if local_name(child.tag) != "keywords":
                continue
            for keyword in child:
                if keyword.get("id") not in declared:
                    declared.add(keyword.get("id"))
                    keywords.append(keyword)
    if not len(keywords):
        root.remove(keywords)
    generated_ids = {child_text(entry, "productId")
                     for entry in generated.iter("entry")}
    for child in template:
        tag = local_name(child.tag)
        if tag in HEADER or tag in ("languages", "keywords") or (
                tag == "entry"
                and child_text(child, "productId") in generated_ids):
            continue
        root.append(child)
    for entry in generated.findall("entry"):
        root.append(entry)
    return root


def feed_bytes(root: ElementTree.Element) -> bytes:
    """The UTF-8 document of a feed Element, indented."""
    return safexml.serialize(root).encode("utf-8")


def write_feed(path: str, feed: Feed,
               template: Optional[str] = None) -> bytes:
    """Write ``feed``, laid over the feed file ``template`` if given, to
    ``path``, after checking it with :func:`~.validator.validate_feed`;
    the bytes written.  FeedError when the result is not a valid feed
    (nothing is written then)."""
    root = feed_element(feed)
    if template:
        root = merge_template(root, read_feed(template), template)
    data = feed_bytes(root)
    check_feed(data, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_atomically(path, data)
    log.debug("wrote %s (%d entries)", path, len(feed.entries))
    return data
