"""web.config: written at install time from ``web.config.in``, then read
for the FastCGI application to register and the handler IIS runs."""

import logging
from dataclasses import dataclass, field

from .. import safexml
from ..files import write_atomically
from .errors import PackageError
from .template import substitute, xml_escape

__all__ = ["FastCgiApplication", "Handler", "WebConfig", "read_web_config",
           "write_web_config"]

log = logging.getLogger("iiswsgi.msdeploy.webconfig")


@dataclass
class FastCgiApplication:
    full_path: str
    arguments: str = ""
    attributes: dict = field(default_factory=dict)   # the others
    environment_variables: dict = field(default_factory=dict)

    @property
    def script_processor(self):
        return self.full_path + "|" + self.arguments


@dataclass
class Handler:
    name: str
    script_processor: str
    attributes: dict = field(default_factory=dict)

    @property
    def full_path(self):
        return self.script_processor.partition("|")[0]

    @property
    def arguments(self):
        return self.script_processor.partition("|")[2]


@dataclass
class WebConfig:
    path: str
    fastcgi_applications: list
    handlers: list

    def application_for(self, handler):
        """The fastCgi application a handler names, or None."""
        for application in self.fastcgi_applications:
            if (application.full_path.casefold() == handler.full_path
                    .casefold() and application.arguments.casefold()
                    == handler.arguments.casefold()):
                return application
        return None


def write_web_config(template, output, variables):
    """Write ``output`` from ``template``, values XML-escaped."""
    try:
        with open(template, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError:
        raise PackageError("%s not found: install_msdeploy writes web.config"
                           " from it" % template) from None
    text = substitute(text, variables, xml_escape, template)
    try:
        safexml.parse(text, template + " (after substitution)")
    except safexml.XMLError as error:
        raise PackageError(str(error)) from None
    write_atomically(output, text)
    log.info("wrote %s", output)
    return read_web_config(output)


def read_web_config(path):
    """The FastCGI applications (``system.webServer/fastCgi``) and FastCGI
    handlers (``system.webServer/handlers``) of a web.config."""
    try:
        root = safexml.parse_file(path)
    except OSError as error:
        raise PackageError("%s cannot be read: %s" % (path, error)) from None
    except safexml.XMLError as error:
        raise PackageError(str(error)) from None
    if root.tag != "configuration":
        raise PackageError("%s: the root element is <%s>, not"
                           " <configuration>" % (path, root.tag))
    applications, handlers = [], []
    for server in root.findall("system.webServer"):
        for element in server.findall("fastCgi/application"):
            attributes = dict(element.attrib)
            full_path = attributes.pop("fullPath", "")
            if not full_path:
                raise PackageError("%s: a <fastCgi><application> has no"
                                   " fullPath" % path)
            variables = {}
            for variable in element.findall(
                    "environmentVariables/environmentVariable"):
                if variable.get("name"):
                    variables[variable.get("name")] = variable.get(
                        "value", "")
            applications.append(FastCgiApplication(
                full_path, attributes.pop("arguments", ""), attributes,
                variables))
        for element in server.findall("handlers/add"):
            processor = element.get("scriptProcessor")
            if processor and "fastcgimodule" in element.get(
                    "modules", "").lower():
                handlers.append(Handler(element.get("name", ""), processor,
                                        dict(element.attrib)))
    return WebConfig(path, applications, handlers)
