"""A stand-in for IIS's appcmd.exe, for tests on any system.

    python fake_appcmd.py [/apphostconfig:FILE] VERB OBJECT [ARGS...]

It works on the applicationHost.config named by ``/apphostconfig:FILE``
or by the IISWSGI_FAKE_APPHOST environment variable, and does what the
gateway's tools ask of the real one, printing what the real one prints:

* ``list config /section:SECTION [/xml]`` for ``system.webServer/fastCgi``
  (or ``fastCgi``) and ``system.applicationHost/sites`` (or ``sites``);
* ``list site|sites|app|apps|vdir|vdirs [IDENTIFIER] [/FILTER:VALUE...]``
  in the default line format (``SITE "name" (id:1,...)``), with
  ``/text:PROPERTY`` or ``/xml``;
* ``set config /section:system.webServer/fastCgi /+[...] /-[...]`` with
  ``[key='value',...]`` selectors, ``.environmentVariables.[...]`` and
  ``/commit:apphost``.

Errors are printed as ``ERROR ( message:... )`` on standard output with a
non-zero exit status.  IISWSGI_FAKE_APPCMD_DENIED=1 makes every call fail
as appcmd does when it is not run as an administrator.
IISWSGI_FAKE_APPCMD_RECORD=FILE appends each call's arguments to FILE, one
JSON list a line, so a test can check the exact commands run.
"""

import copy
import json
import os
import sys
import xml.etree.ElementTree as ElementTree

APPHOST_PATH = "MACHINE/WEBROOT/APPHOST"

# Configuration sections: full name -> element path in the config file.
SECTIONS = {
    "system.webServer/fastCgi": ("system.webServer", "fastCgi"),
    "system.applicationHost/sites": ("system.applicationHost", "sites"),
}

# What each collection holds, its key attributes, and the attributes its
# schema allows (None: any).
COLLECTIONS = {
    "fastCgi": ("application", ("fullPath", "arguments"), (
        "fullPath", "arguments", "maxInstances", "idleTimeout",
        "activityTimeout", "requestTimeout", "instanceMaxRequests",
        "protocol", "queueLength", "flushNamedPipe", "rapidFailsPerMinute",
        "monitorChangesTo", "stderrMode", "signalBeforeTerminateSeconds")),
    "environmentVariables": ("environmentVariable", ("name",),
                             ("name", "value")),
}
REQUIRED = {"application": ("fullPath",), "environmentVariable": ("name",)}

# Exit statuses: Win32 error codes, as appcmd returns them (a POSIX exit
# status keeps the low 8 bits: 1168 is seen as 144, still non-zero).
ACCESS_DENIED = 5
INVALID = 87
ALREADY_EXISTS = 183
NOT_FOUND = 1168


class Failure(Exception):
    def __init__(self, message, status=INVALID, hresult=None):
        Exception.__init__(self, message)
        self.message = message
        self.status = status
        self.hresult = hresult


# -- the [key='value',...] syntax ------------------------------------------

def parse_selector(text, start=0):
    """Parse ``[k='v',k2=v2]`` at ``text[start]``: (dict, index after)."""
    if text[start:start + 1] != "[":
        raise Failure("Failed to process input: expected '[' at %r"
                      % text[start:])
    index = start + 1
    attributes = {}
    while True:
        end = index
        while end < len(text) and text[end] not in "=,]":
            end += 1
        name = text[index:end].strip()
        if end >= len(text):
            raise Failure("Failed to process input: missing ']' in %r" % text)
        if text[end] == "]" and not name and not attributes:
            return attributes, end + 1
        if text[end] != "=" or not name:
            raise Failure("Failed to process input: expected name='value'"
                          " in %r" % text)
        index = end + 1
        if text[index:index + 1] in ("'", '"'):
            quote = text[index]
            close = text.find(quote, index + 1)
            if close < 0:
                raise Failure("Failed to process input: unterminated value"
                              " in %r" % text)
            value = text[index + 1:close]
            index = close + 1
        else:
            end = index
            while end < len(text) and text[end] not in ",]":
                end += 1
            value = text[index:end]
            index = end
        attributes[name] = value
        if index >= len(text):
            raise Failure("Failed to process input: missing ']' in %r" % text)
        if text[index] == "]":
            return attributes, index + 1
        if text[index] != ",":
            raise Failure("Failed to process input: unexpected %r in %r"
                          % (text[index], text))
        index += 1


def parse_path(text):
    """``[...]`` or ``[...].collection.[...]``: a list of selectors, and
    the collection names between them."""
    selectors, collections = [], []
    attributes, index = parse_selector(text)
    selectors.append(attributes)
    while index < len(text):
        if text[index] != ".":
            raise Failure("Failed to process input: unexpected %r in %r"
                          % (text[index:], text))
        close = text.find(".", index + 1)
        if close < 0 or text[close + 1:close + 2] != "[":
            raise Failure("Failed to process input: expected"
                          " .collection.[...] in %r" % text)
        collections.append(text[index + 1:close])
        attributes, index = parse_selector(text, close + 1)
        selectors.append(attributes)
    return selectors, collections


# -- the configuration file -------------------------------------------------

class Config:
    def __init__(self, path):
        self.path = path
        try:
            self.tree = ElementTree.parse(path)
        except (OSError, ElementTree.ParseError) as error:
            raise Failure(
                "Cannot read configuration file\n\nFilename: %s\nError: %s"
                % (path, error), 2, "80070002")
        self.root = self.tree.getroot()

    def section(self, name, create=False):
        full = resolve_section(name)
        element = self.root
        for tag in SECTIONS[full]:
            child = element.find(tag)
            if child is None:
                if not create:
                    return full, None
                child = ElementTree.SubElement(element, tag)
            element = child
        return full, element

    def save(self):
        ElementTree.indent(self.tree, space="    ")
        try:
            self.tree.write(self.path, encoding="utf-8",
                            xml_declaration=True)
        except PermissionError:
            raise Failure("Failed to commit configuration changes.\n\n"
                          "Access is denied.\n", ACCESS_DENIED, "80070005")


def resolve_section(name):
    for full in SECTIONS:
        if name.lower() in (full.lower(), full.split("/")[-1].lower()):
            return full
    raise Failure('Unknown config section "%s". Replace with ? for help.'
                  % name)


# -- objects: sites, applications, virtual directories ---------------------

def sites(config):
    _, section = config.section("sites")
    return [] if section is None else section.findall("site")


def _bindings(site):
    found = site.find("bindings")
    return ",".join(
        "%s/%s" % (binding.get("protocol", ""),
                   binding.get("bindingInformation", ""))
        for binding in ([] if found is None else found.findall("binding")))


def objects(config, kind):
    """Every object of ``kind`` as (identifier, properties shown by
    default, all properties)."""
    rows = []
    for site in sites(config):
        name = site.get("name", "")
        if kind == "SITE":
            state = ("Started" if site.get("serverAutoStart", "true").lower()
                     == "true" else "Stopped")
            shown = {"id": site.get("id", ""), "bindings": _bindings(site),
                     "state": state}
            props = dict(site.attrib, **shown)
            props["SITE.NAME"] = name
            props["SITE.ID"] = site.get("id", "")
            rows.append((name, shown, props))
            continue
        for app in site.findall("application"):
            app_path = app.get("path", "/")
            app_name = name + ("/" if app_path == "/" else app_path)
            if kind == "APP":
                shown = {"applicationPool": app.get("applicationPool",
                                                    "DefaultAppPool")}
                props = dict(app.attrib, **shown)
                props.update({"APP.NAME": app_name, "SITE.NAME": name,
                              "APPPOOL.NAME": shown["applicationPool"],
                              "path": app_path})
                rows.append((app_name, shown, props))
                continue
            for vdir in app.findall("virtualDirectory"):
                vdir_name = name + app_path.rstrip("/") + vdir.get("path",
                                                                   "/")
                shown = {"physicalPath": vdir.get("physicalPath", "")}
                props = dict(vdir.attrib, **shown)
                props.update({"VDIR.NAME": vdir_name, "APP.NAME": app_name,
                              "path": vdir.get("path", "/")})
                rows.append((vdir_name, shown, props))
    return rows


XML_ATTRIBUTES = {
    "SITE": ("SITE.NAME", "id", "bindings", "state"),
    "APP": ("APP.NAME", "APPPOOL.NAME", "SITE.NAME", "path"),
    "VDIR": ("VDIR.NAME", "APP.NAME", "path", "physicalPath"),
}
OBJECT_TYPES = {"site": "SITE", "sites": "SITE", "app": "APP", "apps": "APP",
                "vdir": "VDIR", "vdirs": "VDIR"}


def _lookup(props, name):
    for key, value in props.items():
        if key.lower() == name.lower():
            return value
    return None


def list_objects(config, kind, identifier, options):
    rows = objects(config, kind)
    if identifier is not None:
        rows = [row for row in rows if row[0].lower() == identifier.lower()]
        if not rows:
            raise Failure('Cannot find %s object with identifier "%s".'
                          % (kind, identifier), NOT_FOUND)
    for name, value in options.items():
        if name in ("xml", "text", "commit", "apphostconfig"):
            continue
        rows = [row for row in rows
                if (_lookup(row[2], name) or "").lower() == value.lower()]
    if "xml" in options:
        root = ElementTree.Element("appcmd")
        for _, _, props in rows:
            attributes = {key: props.get(key, "")
                          for key in XML_ATTRIBUTES[kind]}
            ElementTree.SubElement(root, kind, attributes)
        return xml_text(root)
    text = options.get("text")
    if text:
        values = []
        for _, _, props in rows:
            if text == "*":
                values.append("%s\n%s" % (kind, "\n".join(
                    '  %s:"%s"' % item for item in props.items())))
            else:
                values.append(_lookup(props, text) or "")
        return "\n".join(values)
    return "\n".join(
        '%s "%s" (%s)' % (kind, name, ",".join(
            "%s:%s" % item for item in shown.items()))
        for name, shown, _ in rows)


def xml_text(root):
    ElementTree.indent(root, space="    ")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            + ElementTree.tostring(root, encoding="unicode"))


# -- configuration ----------------------------------------------------------

def list_config(config, options):
    name = options.get("section")
    if not name:
        raise Failure("The list config command needs /section: in this fake"
                      " appcmd.")
    full, element = config.section(name)
    tags = SECTIONS[full]
    if element is None:
        element = ElementTree.Element(tags[-1])
    if "xml" in options:
        root = ElementTree.Element("appcmd")
        wrapper = ElementTree.SubElement(root, "CONFIG", {
            "CONFIG.SECTION": full, "path": APPHOST_PATH,
            "overrideMode": "Inherit", "locked": "false"})
        copied = copy.deepcopy(element)
        copied.tag = full.replace("/", "-")
        wrapper.append(copied)
        return xml_text(root)
    outer = ElementTree.Element(tags[0])
    outer.append(copy.deepcopy(element))
    ElementTree.indent(outer, space="    ")
    return ElementTree.tostring(outer, encoding="unicode")


def _describe_key(item_tag, keys, attributes):
    values = [attributes.get(key, "") for key in keys]
    if len(keys) == 1:
        return ("Cannot add duplicate collection entry of type '%s' with"
                " unique key attribute '%s' set to '%s'."
                % (item_tag, keys[0], values[0]))
    return ("Cannot add duplicate collection entry of type '%s' with combined"
            " key attributes '%s' respectively set to '%s'."
            % (item_tag, ", ".join(keys), ", ".join(values)))


def _matches(element, keys, selector):
    return all(element.get(key, "").lower() == selector.get(key, "").lower()
               for key in keys)


def _find(collection, collection_name, selector):
    item_tag, keys, _ = COLLECTIONS[collection_name]
    for element in collection.findall(item_tag):
        if _matches(element, keys, selector):
            return element
    return None


def _walk(section, section_tag, expression):
    """The collection element an operation applies to, its name, and the
    selector of the entry."""
    selectors, names = parse_path(expression)
    collection, name = section, section_tag
    for selector, child_name in zip(selectors[:-1], names):
        element = _find(collection, name, selector)
        if element is None:
            raise Failure("Cannot find requested collection element.",
                          NOT_FOUND, "80070490")
        if child_name not in COLLECTIONS:
            raise Failure('Unknown collection "%s".' % child_name)
        child = element.find(child_name)
        if child is None:
            child = ElementTree.SubElement(element, child_name)
        collection, name = child, child_name
    return collection, name, selectors[-1]


def add_entry(section, section_tag, expression):
    collection, name, attributes = _walk(section, section_tag, expression)
    item_tag, keys, allowed = COLLECTIONS[name]
    for attribute in attributes:
        if attribute not in allowed:
            raise Failure('Unknown attribute "%s".  Replace with -? for help.'
                          % attribute)
    missing = [key for key in REQUIRED[item_tag] if not attributes.get(key)]
    if missing:
        raise Failure("New %s object missing required attributes %s."
                      % (item_tag, ", ".join(missing)))
    if _find(collection, name, attributes) is not None:
        raise Failure("New %s object missing required attributes. %s"
                      % (item_tag, _describe_key(item_tag, keys, attributes)),
                      ALREADY_EXISTS, "800700b7")
    ElementTree.SubElement(collection, item_tag, attributes)


def remove_entry(section, section_tag, expression):
    collection, name, selector = _walk(section, section_tag, expression)
    element = _find(collection, name, selector)
    if element is None:
        raise Failure("Cannot find requested collection element.",
                      NOT_FOUND, "80070490")
    collection.remove(element)


def set_config(config, options, operations):
    name = options.get("section")
    if not name:
        raise Failure("The set config command needs /section: in this fake"
                      " appcmd.")
    full, section = config.section(name, create=True)
    if full != "system.webServer/fastCgi":
        raise Failure("This fake appcmd only changes"
                      " system.webServer/fastCgi.")
    commit = options.get("commit", "apphost").lower()
    if commit not in ("apphost", "machine/webroot/apphost"):
        raise Failure("This fake appcmd only commits to apphost.")
    if not operations:
        raise Failure("Nothing to set: give /+[...] or /-[...].")
    for operation, expression in operations:
        if operation == "+":
            add_entry(section, "fastCgi", expression)
        else:
            remove_entry(section, "fastCgi", expression)
    config.save()
    return ('Applied configuration changes to section "%s" for "%s" at'
            ' configuration commit path "%s"'
            % (full, APPHOST_PATH, APPHOST_PATH))


# -- the command line -------------------------------------------------------

def parse_arguments(args):
    positional, options, operations = [], {}, []
    for arg in args:
        if arg[:1] in ("/", "-") and len(arg) > 1:
            if arg[1] == "+":
                operations.append(("+", arg[2:]))
            elif arg[1] == "-":
                operations.append(("-", arg[2:]))
            elif arg[1] == "[":
                raise Failure("This fake appcmd cannot set properties"
                              " with /[...].attribute:value.")
            else:
                name, _, value = arg[1:].partition(":")
                options[name.lower()] = value
        else:
            positional.append(arg)
    return positional, options, operations


def run(args, environ):
    positional, options, operations = parse_arguments(args)
    if environ.get("IISWSGI_FAKE_APPCMD_DENIED") == "1":
        raise Failure(
            "Cannot read configuration file due to insufficient permissions"
            "\n\nFilename: redirection.config\nError: Cannot read"
            " configuration file due to insufficient permissions\n",
            ACCESS_DENIED, "80070005")
    path = options.get("apphostconfig") or environ.get("IISWSGI_FAKE_APPHOST")
    if not path:
        raise Failure("No configuration file: give /apphostconfig:FILE or"
                      " set IISWSGI_FAKE_APPHOST.", 2)
    if len(positional) < 2:
        raise Failure("Give a command and an object type, as in"
                      " 'list config' or 'list sites'.")
    verb, kind = positional[0].lower(), positional[1].lower()
    rest = positional[2:]
    config = Config(path)
    if verb == "list" and kind == "config" and not rest:
        return list_config(config, options)
    if verb == "set" and kind == "config" and not rest:
        return set_config(config, options, operations)
    if verb == "list" and kind in OBJECT_TYPES and len(rest) <= 1:
        return list_objects(config, OBJECT_TYPES[kind],
                            rest[0] if rest else None, options)
    raise Failure("This fake appcmd cannot do %r." % " ".join(positional))


def error_text(failure):
    hresult = "hresult:%s, " % failure.hresult if failure.hresult else ""
    return "ERROR ( %smessage:%s )" % (hresult, failure.message)


def main(argv=None, environ=None):
    args = sys.argv[1:] if argv is None else argv
    env = os.environ if environ is None else environ
    record = env.get("IISWSGI_FAKE_APPCMD_RECORD")
    if record:
        with open(record, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(list(args)) + "\n")
    try:
        output = run(args, env)
    except Failure as failure:
        _write(error_text(failure))
        return failure.status
    if output:
        _write(output)
    return 0


def _write(text):
    # appcmd's /xml output is UTF-8 whatever the locale; so is all of ours.
    sys.stdout.buffer.write(text.rstrip("\n").encode("utf-8") + b"\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
