"""The package's wheelhouse: a wheel for the project, for every runtime
dependency (resolved for the *target* Python and platform, not the build
machine's), and for iiswsgi itself, so the server installs with
``pip install --no-index --find-links wheelhouse``.

pip does the resolving (``pip download --only-binary=:all: --platform
TAG --python-version X.Y --implementation cp``), run with its environment
markers set to the target's, so that a dependency only this machine's
markers want (``uvloop; sys_platform != "win32"``) is not asked for, and
one the target's want (``colorama; platform_system == "Windows"``) is.  In
case pip still evaluated a marker for the machine it runs on, after pip's
resolution
every wheel's ``Requires-Dist`` is evaluated with :mod:`packaging.markers`
for the target environment (:meth:`Target.environment`), what is missing
is downloaded in the same way, and this repeats until nothing is missing.
Wheels pip fetched only because of the build machine's markers, that
nothing needs on the target, are dropped.

Downloads go through pip's own cache, and every wheel is also kept in a
cache of iiswsgi's (:func:`cache_dir`: ``$IISWSGI_WHEEL_CACHE``, else
``$XDG_CACHE_HOME/iiswsgi/wheels``, else ``~/.cache/iiswsgi/wheels``),
one folder per target, given to pip as ``--find-links``.
"""

from __future__ import annotations

import logging
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Dict, Iterable, List, Optional, Sequence,
                    Set, Tuple)

if TYPE_CHECKING:
    # For the annotations only: the functions import what they use, as
    # packaging's parsers take a few hundredths of a second to import and
    # a package without a wheelhouse (any setup.py run) needs none.
    import email.message
    from packaging.markers import Marker
    from packaging.requirements import Requirement

from ..files import read_toml
from .errors import PackageError

__all__ = ["Target", "WheelhouseError", "build_wheel", "build_wheelhouse",
           "cache_dir", "iiswsgi_source", "missing_requirements",
           "read_lock_file", "requirements_file", "wheel_metadata"]

log = logging.getLogger("iiswsgi.msdeploy.wheelhouse")

DEFAULT_PLATFORM = "win_amd64"
LOCK_FILES = ("pylock.toml", "requirements.lock", "requirements.txt")


class WheelhouseError(PackageError):
    """A wheel could not be built or found for the target: the message
    names the requirement, the target and what to do."""


# platform tag prefix -> (sys_platform, platform_system, os_name)
_SYSTEMS = (
    ("win", ("win32", "Windows", "nt")),
    ("manylinux", ("linux", "Linux", "posix")),
    ("musllinux", ("linux", "Linux", "posix")),
    ("linux", ("linux", "Linux", "posix")),
    ("macosx", ("darwin", "Darwin", "posix")),
)
_MACHINES = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}


@dataclass(frozen=True)
class Target:
    """The Python and platform a package is built for."""
    python: str = "%d.%d" % sys.version_info[:2]
    platform: str = DEFAULT_PLATFORM
    implementation: str = "cp"

    def __post_init__(self) -> None:
        if not re.match(r"^3\.\d+$", self.python):
            raise WheelhouseError(
                "--python %r: give the target Python as X.Y, such as 3.13"
                % self.python)
        if not re.match(r"^[a-z0-9_.]+$", self.platform) or not any(
                self.platform.startswith(p) for p, _ in _SYSTEMS):
            raise WheelhouseError(
                "--platform %r: give a wheel platform tag, such as win_amd64,"
                " win32, manylinux2014_x86_64 or macosx_11_0_arm64"
                % self.platform)

    @property
    def key(self) -> str:
        """``py3.13-win_amd64``: the target in file and folder names."""
        return "py%s-%s" % (self.python, self.platform)

    @property
    def is_windows(self) -> bool:
        return self.platform.startswith("win")

    def environment(self) -> Dict[str, str]:
        """The PEP 508 marker environment of the target."""
        system = next(value for prefix, value in _SYSTEMS
                      if self.platform.startswith(prefix))
        machine = _MACHINES.get(self.platform)
        if machine is None:
            machine = re.sub(r"^.*?_(?=(x86_64|aarch64|arm64|i686|"
                             r"universal2|ppc64le|s390x|armv7l)$)", "",
                             self.platform)
        name = {"cp": "cpython", "pp": "pypy"}.get(self.implementation,
                                                   self.implementation)
        return {
            "implementation_name": name,
            "implementation_version": self.python + ".0",
            "os_name": system[2],
            "platform_machine": machine,
            "platform_release": "",
            "platform_system": system[1],
            "platform_version": "",
            "python_full_version": self.python + ".0",
            "platform_python_implementation": {"cpython": "CPython",
                                               "pypy": "PyPy"}.get(name,
                                                                   name),
            "python_version": self.python,
            "sys_platform": system[0],
        }

    def marker_true(self, marker: Optional[Marker], extras: Iterable[str]
                    = ()) -> bool:
        """Whether ``marker`` holds on the target, with any of
        ``extras`` requested (or none)."""
        if marker is None:
            return True
        environment = self.environment()
        return any(marker.evaluate(dict(environment, extra=extra))
                   for extra in [""] + sorted(extras))

    def pip_options(self) -> List[str]:
        return ["--only-binary=:all:", "--platform", self.platform,
                "--python-version", self.python, "--implementation",
                self.implementation]


def cache_dir(target: Optional[Target] = None) -> str:
    """iiswsgi's wheel cache (for ``target``'s folder in it)."""
    base = os.environ.get("IISWSGI_WHEEL_CACHE")
    if not base:
        base = os.path.join(
            os.environ.get("XDG_CACHE_HOME")
            or os.path.join(os.path.expanduser("~"), ".cache"),
            "iiswsgi", "wheels")
    return os.path.join(base, target.key) if target else base


def wheel_metadata(path: str) -> email.message.Message:
    """The METADATA of the wheel at ``path``."""
    import email.parser
    try:
        with zipfile.ZipFile(path) as wheel:
            names = [name for name in wheel.namelist()
                     if re.match(r"^[^/]+\.dist-info/METADATA$", name)]
            if len(names) != 1:
                raise WheelhouseError("%s has %d .dist-info/METADATA files,"
                                      " not one" % (path, len(names)))
            text = wheel.read(names[0]).decode("utf-8")
    except (OSError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise WheelhouseError("%s cannot be read as a wheel: %s"
                              % (path, error)) from None
    return email.parser.Parser().parsestr(text)


def _requirements(path: str) -> List[Requirement]:
    from packaging.requirements import InvalidRequirement, Requirement
    found = []
    for text in wheel_metadata(path).get_all("Requires-Dist") or ():
        try:
            found.append(Requirement(text))
        except InvalidRequirement as error:
            raise WheelhouseError("%s: Requires-Dist %r: %s"
                                  % (path, text, error)) from None
    return found


def _wheels(folder: str) -> Dict[str, Tuple[str, str]]:
    """{canonical name: (version, file name)} of the wheels in
    ``folder``."""
    from packaging.utils import canonicalize_name, parse_wheel_filename
    found = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".whl"):
            project, version, _, _ = parse_wheel_filename(name)
            found[canonicalize_name(project)] = (str(version), name)
    return found


def missing_requirements(folder: str, roots: Sequence[Requirement],
                         target: Target) -> Tuple[List[Requirement],
                                                  Set[str]]:
    """(the requirements the wheels in ``folder`` need on ``target`` that
    no wheel there provides, the canonical names of the wheels the
    target needs), walking from ``roots``."""
    from packaging.utils import canonicalize_name
    wheels = _wheels(folder)
    extras: Dict[str, Set[str]] = {}
    missing: Dict[str, Requirement] = {}
    needed: Set[str] = set()
    pending = [req for req in roots if target.marker_true(req.marker)]
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        new_extras = set(requirement.extras) - extras.get(name, set())
        if name in needed and not new_extras:
            continue
        extras.setdefault(name, set()).update(requirement.extras)
        if name not in wheels:
            if name not in missing:
                missing[name] = requirement
            continue
        needed.add(name)
        for dependency in _requirements(os.path.join(folder,
                                                     wheels[name][1])):
            if target.marker_true(dependency.marker, extras[name]):
                pending.append(dependency)
    return [missing[name] for name in sorted(missing)], needed


def requirements_file(project_dir: str) -> Optional[str]:
    """The lock or requirements file the wheelhouse honours, or None:
    the first of pylock.toml, requirements.lock, requirements.txt in the
    project folder."""
    for name in LOCK_FILES:
        path = os.path.join(project_dir, name)
        if os.path.isfile(path):
            return path
    return None


def read_lock_file(path: str, target: Target) -> List[str]:
    """``name==version`` for each package of a PEP 751 ``pylock.toml``
    whose marker holds on ``target``."""
    from packaging.markers import Marker
    data = read_toml(path, WheelhouseError)
    pins = []
    for index, package in enumerate(data.get("packages") or ()):
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str) or not isinstance(version, str):
            raise WheelhouseError(
                "%s: [[packages]] number %d needs a name and a version"
                " (iiswsgi installs wheels by version)" % (path, index + 1))
        marker = package.get("marker")
        if marker and not target.marker_true(Marker(marker)):
            continue
        pins.append("%s==%s" % (name, version))
    return pins


def iiswsgi_source() -> str:
    """The project folder iiswsgi runs from (its setup.cfg beside the
    package), to build iiswsgi's own wheel from."""
    import iiswsgi
    folder = os.path.dirname(os.path.dirname(os.path.abspath(
        iiswsgi.__file__)))
    setup_cfg = os.path.join(folder, "setup.cfg")
    try:
        with open(setup_cfg, encoding="utf-8") as stream:
            is_ours = re.search(r"(?m)^name\s*=\s*iiswsgi\s*$", stream.read())
    except OSError:
        is_ours = False
    if not is_ours:
        raise WheelhouseError(
            "iiswsgi's own wheel is built from its source tree, and this"
            " iiswsgi (%s) was not installed from one: install iiswsgi"
            " from its repository (pip install -e <checkout>), or set"
            " IISWSGI_WHEEL to an iiswsgi wheel" % folder)
    return folder


# The time stamp of built wheels' members when SOURCE_DATE_EPOCH is not
# set (1980-01-01, the zip format's first day): the same sources give the
# same wheel, so the package is reproducible.
DEFAULT_SOURCE_DATE_EPOCH = "315532800"


# Runs pip with its environment markers evaluated for the target (argv[1],
# JSON) instead of this machine: pip's vendored packaging looks up
# default_environment() each time it evaluates a marker.  A pip without
# that module runs as it is (the marker walk after it still adds what the
# target needs).
_PIP_FOR_TARGET = """\
import json, sys
environment = json.loads(sys.argv.pop(1))
try:
    from pip._vendor.packaging import markers
except ImportError:
    pass
else:
    _ours = markers.default_environment
    def default_environment():
        values = _ours()
        values.update(environment)
        return values
    markers.default_environment = default_environment
from pip._internal.cli.main import main
sys.argv[0] = "pip"
sys.exit(main())
"""


def _pip(arguments: List[str], what: str,
         target: Optional["Target"] = None) -> None:
    if target is None:
        command = [sys.executable, "-m", "pip"]
    else:
        command = [sys.executable, "-c", _PIP_FOR_TARGET,
                   json.dumps(target.environment())]
    command += ["--disable-pip-version-check", "--no-input"] + arguments
    log.debug("running %s", " ".join(command))
    environment = dict(os.environ)
    environment.setdefault("SOURCE_DATE_EPOCH", DEFAULT_SOURCE_DATE_EPOCH)
    process = subprocess.Popen(command, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL, env=environment)
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        line = line.rstrip()
        lines.append(line)
        if line.startswith(("Collecting", "Saved", "File was already",
                            "Building wheel", "Created wheel")):
            log.info("pip: %s", line.strip())
        else:
            log.debug("pip: %s", line)
    if process.wait():
        raise WheelhouseError(_pip_failure(what, lines, process.returncode))


_NOT_FOUND = re.compile(r"(?:No matching distribution found for|Could not"
                        r" find a version that satisfies the requirement)"
                        r" (\S+)")


def _pip_failure(what: str, lines: List[str], status: int) -> str:
    names = []
    for line in lines:
        match = _NOT_FOUND.search(line)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    errors = [line.strip() for line in lines if line.startswith("ERROR")]
    if names:
        return ("%s: no wheel of %s for this target: every dependency needs"
                " a wheel for the target's Python and platform (the server"
                " installs without building anything); pin a version that"
                " has one, or give --python/--platform of a target it"
                " supports.\npip said:\n  %s" % (
                    what, " or ".join(names), "\n  ".join(errors)))
    return "%s: pip failed (exit status %d):\n  %s" % (
        what, status, "\n  ".join(errors or lines[-15:]))


def build_wheel(source: str, output: str) -> str:
    """Build the wheel of the project in ``source`` into the folder
    ``output`` (pip's isolated PEP 517 build, without dependencies); its
    path."""
    before = set(os.listdir(output)) if os.path.isdir(output) else set()
    log.info("building the wheel of %s", source)
    _pip(["wheel", "--no-deps", "--wheel-dir", output, source],
         "building the wheel of %s" % source)
    made = sorted(set(os.listdir(output)) - before) or sorted(
        name for name in os.listdir(output) if name.endswith(".whl"))
    wheels = [name for name in made if name.endswith(".whl")]
    if len(wheels) != 1:
        raise WheelhouseError("building %s made %d wheels (%s), not one"
                              % (source, len(wheels), ", ".join(wheels)))
    return os.path.join(output, wheels[0])


def _download(requirements: List[str], folder: str, target: Target,
              find_links: List[str], constraints: Optional[str],
              requirement_file: Optional[str], what: str) -> None:
    arguments = ["download", "--dest", folder] + target.pip_options()
    for link in find_links:
        arguments += ["--find-links", link]
    if constraints:
        arguments += ["--constraint", constraints]
    if requirement_file:
        arguments += ["--requirement", requirement_file]
    _pip(arguments + requirements, what, target)


def build_wheelhouse(output: str, project_wheel: str, target: Target,
                     requirement_file: Optional[str] = None,
                     extra_wheels: Sequence[str] = ()) -> List[str]:
    """Fill the folder ``output`` with the wheels ``target`` needs to run
    the project of ``project_wheel``: it, its dependencies, the
    ``extra_wheels`` (iiswsgi's own) and theirs, and what
    ``requirement_file`` (a requirements file or a pylock.toml) pins;
    the file names, sorted.  WheelhouseError naming a requirement no
    wheel for the target satisfies."""
    from packaging.requirements import Requirement
    from packaging.utils import parse_wheel_filename
    os.makedirs(output, exist_ok=True)
    cache = cache_dir(target)
    os.makedirs(cache, exist_ok=True)
    local = tempfile.mkdtemp(prefix="iiswsgi-local-wheels-")
    try:
        roots = []
        for wheel in [project_wheel] + list(extra_wheels):
            shutil.copy2(wheel, local)
            name = os.path.basename(wheel)
            project, version, _, _ = parse_wheel_filename(name)
            roots.append(Requirement("%s==%s" % (project, version)))
        pins: List[str] = []
        file_argument = None
        if requirement_file and requirement_file.endswith(".toml"):
            pins = read_lock_file(requirement_file, target)
        elif requirement_file:
            file_argument = requirement_file
        if requirement_file:
            log.info("the wheelhouse honours %s", requirement_file)
        find_links = [local, cache]
        what = "the wheelhouse for %s" % target.key
        _download([os.path.join(local, os.path.basename(w))
                   for w in [project_wheel] + list(extra_wheels)] + pins,
                  output, target, find_links, None, file_argument, what)
        roots += [Requirement(pin) for pin in pins]
        prune = True
        if file_argument:
            listed = _file_requirements(file_argument)
            prune = listed is not None
            roots += listed or []
        for _ in range(50):
            missing, needed = missing_requirements(output, roots, target)
            if not missing:
                break
            log.info("%s: pip left out %s, which the target needs (its"
                     " markers hold there)", target.key,
                     ", ".join(str(req) for req in missing))
            constraints = os.path.join(local, "constraints.txt")
            with open(constraints, "w", encoding="utf-8") as stream:
                for name, (version, _) in sorted(_wheels(output).items()):
                    stream.write("%s==%s\n" % (name, version))
            _download([_without_marker(req) for req in missing], output,
                      target, find_links, constraints, None, what)
        else:
            raise WheelhouseError("%s: the dependencies did not close after"
                                  " 50 rounds" % what)
        for name, (_, filename) in _wheels(output).items():
            if prune and name not in needed:
                log.info("%s: dropping %s, which the target does not need"
                         " (pip took it for this machine's markers)",
                         target.key, filename)
                os.unlink(os.path.join(output, filename))
        names = sorted(n for n in os.listdir(output) if n.endswith(".whl"))
        built = {os.path.basename(w)
                 for w in [project_wheel] + list(extra_wheels)}
        for name in names:
            path = os.path.join(output, name)
            if name not in built and not os.path.exists(
                    os.path.join(cache, name)):
                shutil.copy2(path, cache)
            log.info("wheelhouse: %s (%d kB)", name,
                     (os.path.getsize(path) + 1023) // 1024)
        return names
    finally:
        shutil.rmtree(local, ignore_errors=True)


def _without_marker(requirement: Requirement) -> str:
    from packaging.requirements import Requirement
    copy = Requirement(str(requirement))
    copy.marker = None
    return str(copy)


def _file_requirements(path: str) -> Optional[List[Requirement]]:
    """The requirements of a requirements file, or None when it has
    lines only pip reads (options, URLs, nested files), whose packages
    are then all kept."""
    from packaging.requirements import InvalidRequirement, Requirement
    found = []
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            line = re.split(r"(?:^|\s+)(?:#|--hash)", line,
                            maxsplit=1)[0].strip()
            if not line:
                continue
            try:
                found.append(Requirement(line))
            except InvalidRequirement:
                log.debug("%s: %r is left to pip", path, line)
                return None
    return found
