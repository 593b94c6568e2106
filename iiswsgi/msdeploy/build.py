"""Building a Web Deploy package: the one implementation behind
``iiswsgi package`` and ``setup.py bdist_msdeploy``.

The zip, ``<Name>-<version>-py<X.Y>-<platform>.msdeploy.zip`` (named for
the target, not the build machine), holds ``Manifest.xml`` and
``Parameters.xml`` at its root and, under ``<Name>/``, the application
folder: the project's files, ``web.config.in``, ``iis_install.stamp`` and
``wheelhouse/`` (:mod:`.wheelhouse`).  What the project does not have is
generated: a Manifest with ``iisApp``, ``setAcl`` and a ``runCommand``
running iiswsgi_install; a Parameters.xml asking for the application
path; a wfastcgi-style web.config.in naming ``WSGI_HANDLER``.

Everything is written in a temporary folder; nothing in the project
changes.  The build token is the SHA-256 (:func:`build_token`) of every
packed file but the manifest and the stamp; the stamp always carries it
on a line ``iiswsgi-build-token: <hex>``, and every runCommand that runs
iiswsgi_install gets ``--build-token <hex>`` after the program name.
"""

import hashlib
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional

from ..files import write_atomically
from .errors import PackageError
from .manifest import Manifest, build_manifest, default_manifest
from .package import archive_name, write_package
from .parameters import Entry, Parameter, read_parameters, write_parameters
from .stamp import STAMP
from .template import substitute, xml_escape
from .wheelhouse import (Target, build_wheel, build_wheelhouse,
                         iiswsgi_source)

__all__ = ["BuildResult", "PackageSpec", "TOKEN_LINE", "build_package",
           "build_token", "default_web_config", "package_filename",
           "stamp_text"]

log = logging.getLogger("iiswsgi.msdeploy.build")

TOKEN_LINE = "iiswsgi-build-token: "
MANIFEST = "Manifest.xml"
PARAMETERS = "Parameters.xml"
WEB_CONFIG_TEMPLATE = "web.config.in"
WHEELHOUSE = "wheelhouse"
DEFAULT_STAMP = ("# iiswsgi_install finds the application folder by this"
                 " file, and removes it once the install has run.\n")


@dataclass
class PackageSpec:
    """What to build.  ``content`` maps paths in the application folder
    (``/``-separated) to the project files to put there;
    ``variables`` are the templates' (``DIST_NAME``, ...)."""
    project_dir: str
    name: str
    version: str
    target: Target
    dist_dir: str
    variables: Dict[str, str] = field(default_factory=dict)
    content: Dict[str, str] = field(default_factory=dict)
    settings: Dict[str, object] = field(default_factory=dict)
    project_wheel: Optional[str] = None
    manifest_template: Optional[str] = None
    parameters: Optional[str] = None
    web_config_template: Optional[str] = None
    stamp_template: Optional[str] = None
    requirements: Optional[str] = None
    wheelhouse: bool = True


@dataclass
class BuildResult:
    path: str
    token: str
    wheels: List[str]
    manifest: Manifest
    seconds: float


def package_filename(name: str, version: str, target: Target) -> str:
    """``<Name>-<version>-py<X.Y>-<platform>.msdeploy.zip``."""
    return "%s-%s-%s.msdeploy.zip" % (name.replace("-", "_"),
                                      version.replace("-", "_"), target.key)


#: What build_token keeps of the files it reads, for the zip writer: files
#: up to KEEP_FILE bytes, up to KEEP_TOTAL bytes in all.
KEEP_FILE = 1 << 20
KEEP_TOTAL = 64 << 20


def build_token(files: Mapping[str, str],
                keep: Optional[Dict[str, bytes]] = None) -> str:
    """The SHA-256 (64 lowercase hex digits) of ``files`` (entry name ->
    path): for each entry in sorted order, its UTF-8 name, a NUL, the
    content's length in decimal, a NUL, the content.

    With ``keep``, the content of the smaller files read goes there (entry
    name -> bytes), so that the zip packs what was hashed without reading
    each file a second time."""
    digest = hashlib.sha256()
    kept = 0
    for name in sorted(files):
        with open(files[name], "rb") as stream:
            data = stream.read()
        digest.update(name.encode("utf-8") + b"\0")
        digest.update(str(len(data)).encode("ascii") + b"\0" + data)
        if keep is not None and len(data) <= KEEP_FILE and (
                kept + len(data) <= KEEP_TOTAL):
            keep[name] = data
            kept += len(data)
    return digest.hexdigest()


def stamp_text(template: Optional[str], token: str) -> str:
    """The stamp: the project's template (else a comment), then the line
    ``iiswsgi-build-token: <token>`` (one such line only)."""
    text = DEFAULT_STAMP
    if template:
        try:
            with open(template, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as error:
            raise PackageError("%s cannot be read: %s" % (template, error)) \
                from None
    lines = [line for line in text.splitlines()
             if not line.startswith(TOKEN_LINE)]
    return "\n".join(lines + [TOKEN_LINE + token]) + "\n"


def _template_value(text):
    """``text`` in a template, read back as it is."""
    return xml_escape(text.replace("$", "$$").replace("%", "%%"))


def default_web_config(handler: str) -> str:
    """A wfastcgi-style web.config.in: ``python.exe|-m iiswsgi`` as the
    FastCGI handler, ``WSGI_HANDLER`` naming ``handler``, the log in the
    application folder.  iiswsgi_install (or install_msdeploy) writes
    web.config from it on the server, where ``%PYTHON_EXE%`` is known, and
    registers the FastCGI application the handler names in
    applicationHost.config: no ``<fastCgi>`` section here, because IIS
    allows that section only in applicationHost.config (500.19)."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        "<!-- Written by iiswsgi (the project has no web.config.in):"
        " install_msdeploy writes web.config from it. -->\n"
        "<configuration>\n"
        "  <appSettings>\n"
        '    <add key="WSGI_HANDLER" value="%s" />\n'
        '    <add key="WSGI_LOG"'
        ' value="%%APPL_PHYSICAL_PATH%%%%SEP%%iiswsgi.log" />\n'
        "  </appSettings>\n"
        "  <system.webServer>\n"
        "    <handlers>\n"
        '      <add name="iiswsgi" path="*" verb="*"'
        ' modules="FastCgiModule"'
        ' scriptProcessor="%%PYTHON_EXE%%|-m iiswsgi"'
        ' resourceType="Unspecified" requireAccess="Script"'
        ' responseBufferLimit="0" />\n'
        "    </handlers>\n"
        "  </system.webServer>\n"
        "</configuration>\n" % _template_value(handler))


def _default_parameters(name, path):
    match = "^%s$" % re.escape(name)
    write_parameters([
        Parameter("Application Path", "The IIS site and application to"
                  " install into", "Default Web Site/" + name, ["iisApp"],
                  [Entry("ProviderPath", "iisApp", match)]),
        Parameter("SetAclParameter1", "Write access for the application"
                  " pool to the application folder (the log, web.config)",
                  "{Application Path}", ["Hidden"],
                  [Entry("ProviderPath", "setAcl", match)]),
    ], path)


def _install_command(spec):
    home = spec.settings.get("python-home") or (
        "%%SystemDrive%%\\Python%s" % spec.target.python.replace(".", ""))
    program = "%s\\Scripts\\iiswsgi_install.exe" % str(home).rstrip("\\")
    if " " in program:
        program = '"%s"' % program
    return "%s -v -e -a %s" % (program, spec.name)


def _iiswsgi_wheel(folder):
    given = os.environ.get("IISWSGI_WHEEL")
    if given:
        if not os.path.isfile(given):
            raise PackageError("IISWSGI_WHEEL=%s in the environment: no such"
                               " file" % given)
        return given
    return build_wheel(iiswsgi_source(), folder)


def build_package(spec: PackageSpec) -> BuildResult:
    """Build the package ``spec`` describes into ``spec.dist_dir``."""
    started = time.monotonic()
    work = tempfile.mkdtemp(prefix="iiswsgi-package-")
    try:
        return _build(spec, work, started)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _build(spec, work, started):
    name = spec.name
    files: Dict[str, str] = {}
    # The templates first: their errors come before anything is fetched.
    if spec.parameters and os.path.isfile(spec.parameters):
        read_parameters(spec.parameters)
        files[PARAMETERS] = spec.parameters
    else:
        files[PARAMETERS] = os.path.join(work, PARAMETERS)
        _default_parameters(name, files[PARAMETERS])
        log.info("no %s: asking for the application path only", PARAMETERS)
    manifest_template = spec.manifest_template
    if not manifest_template or not os.path.isfile(manifest_template):
        manifest_template = os.path.join(work, "Manifest.xml.in")
        write_atomically(manifest_template, default_manifest(
            name, _install_command(spec),
            int(spec.settings.get("wait-attempts") or 60),
            int(spec.settings.get("wait-interval") or 5000)))
        log.info("no Manifest.xml.in: iisApp, setAcl and a runCommand"
                 " running iiswsgi_install")
    checked = build_manifest(manifest_template,
                             os.path.join(work, "check.xml"),
                             spec.variables, "0" * 64)
    app_paths = checked.iis_app_paths
    if app_paths and name not in app_paths:
        log.warning("Manifest.xml's <iisApp path> is %s, but the package"
                    " folder is %s", ", ".join(app_paths), name)
    for path, source in spec.content.items():
        if path.replace("\\", "/").strip("/") == STAMP:
            continue                # the stamp is the build's own
        files[archive_name(name, path)] = source
    web_config = archive_name(name, WEB_CONFIG_TEMPLATE)
    if web_config not in files:
        template = spec.web_config_template
        if not template or not os.path.isfile(template):
            handler = spec.settings.get("wsgi-handler")
            if not handler:
                raise PackageError(
                    "%s has no web.config.in and no wsgi-handler setting:"
                    " say which WSGI application to serve, in pyproject.toml"
                    " ([tool.iiswsgi] wsgi-handler = \"myproject.wsgi."
                    "application\") or as setup(wsgi_handler=...), or ship"
                    " a web.config.in" % spec.project_dir)
            template = os.path.join(work, WEB_CONFIG_TEMPLATE)
            write_atomically(template, default_web_config(str(handler)))
            log.info("no web.config.in: python.exe|-m iiswsgi serving"
                     " WSGI_HANDLER=%s", handler)
        else:
            # Checked here, as install_msdeploy will read it there.
            with open(template, encoding="utf-8") as stream:
                substitute(stream.read(), spec.variables, None, template)
        files[web_config] = template
    wheels: List[str] = []
    if spec.wheelhouse:
        built = os.path.join(work, "built")
        os.makedirs(built)
        project_wheel = spec.project_wheel or build_wheel(spec.project_dir,
                                                          built)
        iiswsgi_wheel = _iiswsgi_wheel(built)
        house = os.path.join(work, WHEELHOUSE)
        extra = [] if os.path.basename(iiswsgi_wheel).split("-")[0] == \
            os.path.basename(project_wheel).split("-")[0] else [iiswsgi_wheel]
        wheels = build_wheelhouse(house, project_wheel, spec.target,
                                  spec.requirements, extra)
        for wheel in wheels:
            files[archive_name(name, WHEELHOUSE, wheel)] = os.path.join(
                house, wheel)
    contents: Dict[str, bytes] = {}
    token = build_token(files, contents)
    stamp = os.path.join(work, STAMP)
    write_atomically(stamp, stamp_text(spec.stamp_template, token))
    files[archive_name(name, STAMP)] = stamp
    manifest = build_manifest(manifest_template,
                              os.path.join(work, MANIFEST), spec.variables,
                              token, warn_old=False)
    files[MANIFEST] = os.path.join(work, MANIFEST)
    target = os.path.join(spec.dist_dir, package_filename(
        name, spec.version, spec.target))
    write_package(target, files, spec.project_dir, contents)
    seconds = time.monotonic() - started
    log.info("built %s for %s in %.1f s (build token %s, %d wheels)",
             target, spec.target.key, seconds, token, len(wheels))
    return BuildResult(target, token, wheels, manifest, seconds)


def _has_project_table(pyproject):
    from .project import read_pyproject
    return "project" in read_pyproject(pyproject)


def _setup_py_package(project_dir, dist_dir, target, wheelhouse=True):
    """A setup.py project: its bdist_msdeploy, run in this process (this
    Python, where iiswsgi's commands and keywords are installed), as
    ``python setup.py`` would run it: in the project's folder, with it
    first on sys.path.  One interpreter and one import of setuptools
    instead of two: a second process cost half as much again as the
    build of a small project.  What setup.py prints goes to standard
    error, so that standard output holds the zip's path alone."""
    import sys
    import traceback
    arguments = ["bdist_msdeploy", "--dist-dir", dist_dir, "--python",
                 target.python, "--platform", target.platform]
    if not wheelhouse:
        arguments.append("--no-wheelhouse")
    script = os.path.join(project_dir, "setup.py")
    log.info("running setup.py %s in %s", " ".join(arguments), project_dir)
    try:
        with open(script, "rb") as stream:
            code = compile(stream.read(), script, "exec")
    except (OSError, SyntaxError, ValueError) as error:
        raise PackageError("%s cannot be run: %s" % (script, error)) \
            from None
    before = time.time()
    argv, path, cwd = sys.argv, list(sys.path), os.getcwd()
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    failure = None
    try:
        os.chdir(project_dir)
        sys.argv = [script] + arguments
        sys.path.insert(0, project_dir)
        try:
            exec(code, {"__file__": script, "__name__": "__main__"})
        except SystemExit as exit:
            if exit.code not in (None, 0):
                failure = ("python setup.py bdist_msdeploy in %s failed: %s"
                           % (project_dir, exit.code))
        except Exception as error:       # setup.py's own code failed
            for line in traceback.format_exc().splitlines():
                log.error("setup.py: %s", line)
            failure = ("python setup.py bdist_msdeploy in %s raised %s: %s"
                       " (the traceback is above)"
                       % (project_dir, type(error).__name__, error))
    finally:
        if sys.stdout is not None:
            sys.stdout.flush()
        os.dup2(stdout, 1)
        os.close(stdout)
        sys.argv = argv
        sys.path[:] = path
        os.chdir(cwd)
    if failure:
        raise PackageError(failure)
    made = [os.path.join(dist_dir, n) for n in os.listdir(dist_dir)
            if n.endswith("-%s.msdeploy.zip" % target.key)]
    made = [path for path in made if os.path.getmtime(path) >= before - 2]
    if len(made) != 1:
        raise PackageError("setup.py bdist_msdeploy in %s wrote %d packages"
                           " for %s in %s, not one" % (
                               project_dir, len(made), target.key, dist_dir))
    return made[0]


def package_project(project_dir: str, dist_dir: Optional[str] = None,
                    target: Optional[Target] = None,
                    wheelhouse: bool = True) -> str:
    """``iiswsgi package``: build the package of the project in
    ``project_dir`` (a pyproject.toml with any PEP 517 backend, or a
    setup.py) for ``target`` into ``dist_dir`` (default: its dist/); the
    zip's path.  ``wheelhouse`` False leaves the wheelhouse out."""
    from .project import (ProjectMetadata, metadata_variables,
                          read_tool_settings)
    from .wheelhouse import requirements_file
    project_dir = os.path.abspath(project_dir)
    dist_dir = os.path.abspath(dist_dir or os.path.join(project_dir, "dist"))
    target = target or Target()
    pyproject = os.path.join(project_dir, "pyproject.toml")
    setup_py = os.path.join(project_dir, "setup.py")
    if not os.path.isdir(project_dir):
        raise PackageError("%s is not a folder: give the project's folder"
                           % project_dir)
    if not os.path.isfile(pyproject) and not os.path.isfile(setup_py):
        raise PackageError("%s has neither a pyproject.toml nor a setup.py:"
                           " give the folder of a Python project"
                           % project_dir)
    if os.path.isfile(setup_py) and (not os.path.isfile(pyproject) or
                                     not _has_project_table(pyproject)):
        return _setup_py_package(project_dir, dist_dir, target, wheelhouse)
    settings = read_tool_settings(project_dir)
    work = tempfile.mkdtemp(prefix="iiswsgi-project-")
    try:
        wheel = build_wheel(project_dir, work)
        metadata = ProjectMetadata.from_wheel(wheel)
        content = {}
        for pattern in settings.get("include") or ():
            content.update(_globbed(project_dir, pattern))

        def here(name):
            return os.path.join(project_dir, name)
        spec = PackageSpec(
            project_dir=project_dir, name=metadata.name,
            version=metadata.version, target=target, dist_dir=dist_dir,
            variables=metadata_variables(metadata, settings),
            content=content, settings=settings, project_wheel=wheel,
            manifest_template=here("Manifest.xml.in"),
            parameters=here(PARAMETERS),
            web_config_template=here(WEB_CONFIG_TEMPLATE),
            stamp_template=here(STAMP + ".in") if os.path.isfile(
                here(STAMP + ".in")) else None,
            requirements=requirements_file(project_dir),
            wheelhouse=wheelhouse)
        return build_package(spec).path
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _globbed(project_dir, pattern):
    import glob
    if os.path.isabs(pattern) or ".." in re.split(r"[\\/]", pattern):
        raise PackageError("[tool.iiswsgi] include %r: patterns are relative"
                           " to the project folder, without '..'" % pattern)
    found = {}
    for path in sorted(glob.glob(os.path.join(project_dir, pattern),
                                 recursive=True)):
        if os.path.isfile(path):
            relative = os.path.relpath(path, project_dir)
            found[relative.replace(os.sep, "/")] = path
    if not found:
        log.warning("[tool.iiswsgi] include %r matches no file in %s",
                    pattern, project_dir)
    return found
