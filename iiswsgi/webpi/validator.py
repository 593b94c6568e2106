"""Checking a feed against the rules WebPI reads it by (the TechNet "Web
PI feed schema" pages, as the project's reference notes gather them):
:func:`validate_feed` lists the problems, :func:`check_feed` raises them."""

import re
import xml.etree.ElementTree as ElementTree
from typing import List
from urllib.parse import urlsplit

from .. import safexml
from .errors import FeedError
from .model import ATOM
from .reader import child_text, children, local_name
from .values import parse_date

__all__ = ["check_feed", "validate_feed"]

_PRODUCT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_SHA1 = re.compile(r"^[0-9A-Fa-f]{40}$")


def _check_url(problems, where, tag, value):
    scheme = urlsplit(value).scheme.lower() if value else ""
    if scheme not in ("http", "https", "file", "ftp"):
        problems.append("%s: <%s> must be an absolute http(s), ftp or file"
                        " URL, not %r" % (where, tag, value))


def _check_date(problems, where, element, tag, required=True):
    value = child_text(element, tag)
    if value is None:
        if required:
            problems.append("%s: no <%s>" % (where, tag))
    elif parse_date(value) is None:
        problems.append("%s: <%s> %r is not an ISO 8601 date-time"
                        % (where, tag, value))


def _check_dependency(problems, where, element, named):
    kinds = [local_name(child.tag) for child in element]
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
    if not members or any(local_name(m.tag) != "dependency" for m in members):
        problems.append("%s: <%s> must hold <dependency> elements only"
                        % (where, kinds[0]))
    for member in members:
        if local_name(member.tag) == "dependency":
            _check_dependency(problems, where, member, named)


def _check_installer(problems, where, installer, languages, numbers,
                     application):
    number = child_text(installer, "id")
    if number is None or not number.isdigit():
        problems.append("%s: <installer> needs an integer <id>, not %r"
                        % (where, number))
    elif number in numbers:
        problems.append("%s: installer id %s is used twice" % (where,
                                                               number))
    numbers.add(number)
    where = "%s, installer %s" % (where, number)
    ids = [(element.text or "").strip()
           for element in children(installer, "languageId")]
    if not ids:
        problems.append("%s: no <languageId>" % where)
    for language in ids:
        if language not in languages:
            problems.append("%s: languageId %r is not one of the feed's"
                            " <languages> (%s)" % (
                                where, language,
                                ", ".join(sorted(languages)) or "none"))
    downloads = children(installer, "installerFile")
    commands = children(installer, "installCommands")
    if not downloads and not commands:
        problems.append("%s: neither <installerFile> nor <installCommands>"
                        % where)
    for download in downloads:
        _check_url(problems, where, "installerURL",
                   child_text(download, "installerURL"))
        size = child_text(download, "fileSize")
        if size is not None and (not size.isdigit() or int(size) < 1):
            problems.append("%s: <fileSize> is a whole number of KiB, not"
                            " %r" % (where, size))
        sha1 = child_text(download, "sha1")
        if sha1 is not None and not _SHA1.match(sha1):
            problems.append("%s: <sha1> must be 40 hex digits, not %r"
                            % (where, sha1))
    for element in commands:
        for command in element:
            tag = local_name(command.tag)
            if tag not in ("cmdline", "msiInstall", "msuInstall"):
                problems.append(
                    "%s: <installCommands> holds <cmdline>, <msiInstall> or"
                    " <msuInstall>, not <%s>%s" % (
                        where, tag, " (WebPI spells it cmdline)"
                        if tag.lower() == "cmdline" else ""))
            elif tag == "cmdline" and not child_text(command, "exe"):
                problems.append("%s: <cmdline> has no <exe>" % where)
    if application:
        if not children(installer, "msDeploy"):
            problems.append("%s: an application installer needs <msDeploy>"
                            " (Web Deploy installs it)" % where)
        if not downloads:
            problems.append("%s: an application installer needs an"
                            " <installerFile> (the Web Deploy zip)" % where)


def _check_entry(problems, index, entry, languages, keywords, named, seen):
    product = child_text(entry, "productId")
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
        if not child_text(entry, tag):
            problems.append("%s: no <%s>" % (where, tag))
    _check_date(problems, where, entry, "updated", required=False)
    _check_date(problems, where, entry, "published", required=False)
    for element in children(entry, "keywords"):
        for reference in element:
            word = (reference.text or "").strip()
            if word not in keywords:
                problems.append("%s: keywordId %r is not declared in the"
                                " feed's <keywords>" % (where, word))
    for element in children(entry, "dependency"):
        _check_dependency(problems, where, element, named)
    for element in children(entry, "related"):
        for related in element:
            if not child_text(related, "productId"):
                problems.append("%s: <relatedProduct> without <productId>"
                                % where)
    for element in children(entry, "discoveryHint"):
        for hint in element:
            if local_name(hint.tag) not in (
                    "registry", "file", "msiProductCode", "and", "or",
                    "discoveryHint"):
                problems.append("%s: <discoveryHint> cannot hold <%s>"
                                % (where, local_name(hint.tag)))
    application = entry.get("type") == "application"
    installers = [installer for element in children(entry, "installers")
                  for installer in children(element, "installer")]
    if not installers:
        problems.append("%s: no <installers><installer>" % where)
    numbers = set()
    for installer in installers:
        _check_installer(problems, where, installer, languages, numbers,
                         application)


def validate_feed(root: ElementTree.Element) -> List[str]:
    """The problems that would stop WebPI reading the feed Element
    ``root`` (as :func:`~.reader.read_feed` returns it), as messages;
    empty when there are none."""
    problems = []
    if local_name(root.tag) != "feed":
        return ["the root element is <%s>, not <feed>" % local_name(root.tag)]
    if root.get("xmlns") not in (None, ATOM) or (
            root.get("xmlns") is None and root.tag != "{%s}feed" % ATOM):
        problems.append("<feed> must be in the Atom namespace:"
                        ' xmlns="%s"' % ATOM)
    elements = list(root)
    if not elements or local_name(elements[0].tag) != "webpiFile":
        problems.append("the first child of <feed> must be <webpiFile"
                        ' version="...">')
    for element in children(root, "webpiFile"):
        if not re.match(r"^\d+(\.\d+){1,3}$", element.get("version", "")):
            problems.append("<webpiFile version=%r> is not a dotted version"
                            % element.get("version"))
    for tag in ("title", "id"):
        if not child_text(root, tag):
            problems.append("the feed has no <%s>" % tag)
    _check_date(problems, "the feed", root, "updated")
    languages = set()
    for element in children(root, "languages"):
        defaults = 0
        for language in children(element, "language"):
            languages.add(child_text(language, "languageId") or "")
            defaults += language.get("default") == "true"
        if defaults > 1:
            problems.append("<languages> has %d default languages" %
                            defaults)
    keywords = {keyword.get("id") for element in children(root, "keywords")
                for keyword in children(element, "keyword")}
    named = {element.get("id") for element in children(root, "dependency")}
    seen = set()
    for index, entry in enumerate(children(root, "entry"), 1):
        _check_entry(problems, index, entry, languages, keywords, named,
                     seen)
    return problems


def check_feed(data: bytes,
               source: str = "the feed") -> ElementTree.Element:
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
