"""The package-wide conventions, checked on the source itself.

* (a) no ``print()`` in library code: the log is where iiswsgi writes;
* (b) every public function and method annotated (parameters and return);
* (c) every exception class derives from :class:`iiswsgi.errors.IISWSGIError`
  (each also keeps its standard base, checked by the layers' own tests);
* (d) every ``logging.getLogger("...")`` literal is the module's own dotted
  path, or one of the named channels.

Every check runs over every module of the package.
"""

import ast
import importlib
import inspect
import os
import pathlib
import sys

import pytest

import iiswsgi
from iiswsgi.errors import IISWSGIError

PACKAGE = pathlib.Path(iiswsgi.__file__).resolve().parent

# Exceptions that are control flow, not errors, so not IISWSGIErrors.
CONTROL_FLOW = {
    # Raised by the stop signal's handler to leave a blocking wait; a
    # BaseException so that an application's `except Exception` cannot
    # swallow it.
    "iiswsgi.gateway.signals.Interrupted",
    # A failed attempt worth retrying; publish() turns the last one into a
    # PublishError.
    "iiswsgi.publish._Transient",
    # A value's problem in words; settings.convert() turns it into a
    # SettingsError naming the option and where its value came from.
    "iiswsgi.settings._Invalid",
}

# Logger names that are channels (what the application wrote, to
# stdout, stderr or wsgi.errors), not modules.
CHANNELS = {"iiswsgi.stdout", "iiswsgi.stderr", "iiswsgi.errors"}

# (module, logger name) pairs where a module configures another library's
# logger rather than logging itself.
FOREIGN_LOGGERS = {
    # `iiswsgi emulate` quietens waitress's per-connection messages.
    ("iiswsgi.cli", "waitress"),
}

# Modules that cannot be imported here: Windows-only (ctypes.windll,
# msvcrt), or running the program when imported (python -m iiswsgi).
NOT_IMPORTED = {"iiswsgi.__main__"} | (
    {"iiswsgi.iis.winapi"} if os.name != "nt" else set())


def _modules():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _report(check, violations):
    """Fail on any violation, naming each."""
    assert not violations, "%s:\n%s" % (check, "\n".join(
        "  %s: %s" % item for item in violations))


def _tree(module):
    path = MODULES[module]
    return ast.parse(path.read_text(encoding="utf-8"), str(path))


def _where(module, node):
    return "%s:%d" % (MODULES[module].relative_to(PACKAGE.parent),
                      node.lineno)


def _calls(tree):
    """Every call in ``tree``, in the order of the source."""
    return sorted((node for node in ast.walk(tree)
                   if isinstance(node, ast.Call)),
                  key=lambda node: (node.lineno, node.col_offset))


# -- (a) print() -------------------------------------------------------------

def _prints(module):
    return [(module, "%s calls print()" % _where(module, call))
            for call in _calls(_tree(module))
            if isinstance(call.func, ast.Name) and call.func.id == "print"]


def test_no_print_in_library_code():
    violations = []
    for module in MODULES:
        violations += _prints(module)
    _report("print() in library code", violations)


def test_print_check_finds_a_print(tmp_path, monkeypatch):
    """The check itself: a print() call is found, a string naming print()
    (as msdeploy.install runs in a child interpreter) is not."""
    source = tmp_path / "sample.py"
    source.write_text('CODE = "print(1)"\n\ndef f():\n    print("x")\n')
    monkeypatch.setitem(MODULES, "sample", source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "pkg")
    assert _prints("sample") == [("sample", "sample.py:4 calls print()")]


# -- (b) annotations -----------------------------------------------------------

def _public(name):
    return not name.startswith("_") or (
        name.startswith("__") and name.endswith("__"))


def _unannotated(function, is_method):
    """What of ``function``'s signature lacks an annotation."""
    args = function.args
    params = args.posonlyargs + args.args + args.kwonlyargs
    if is_method and params and not _is_static(function):
        params = params[1:]               # self, cls
    missing = [param.arg for param in params if param.annotation is None]
    missing += ["*" + param.arg for param in (args.vararg, args.kwarg)
                if param is not None and param.annotation is None]
    if function.returns is None:          # __init__ too: "-> None"
        missing.append("return")
    return missing


def _is_static(function):
    return any(isinstance(d, ast.Name) and d.id == "staticmethod"
               for d in function.decorator_list)


def _public_functions(tree):
    """(qualified name, node, is_method) of the public functions at module
    level (also under if/try) and the public methods of public classes;
    nested functions are not API."""
    found = []

    def visit(node, prefix, in_class):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if _public(child.name):
                    found.append((prefix + child.name, child, in_class))
            elif isinstance(child, ast.ClassDef):
                if _public(child.name):
                    visit(child, prefix + child.name + ".", True)
            elif isinstance(child, (ast.If, ast.Try)):
                visit(child, prefix, in_class)
    visit(tree, "", False)
    return found


def _annotation_gaps(module):
    return [(module, "%s %s: no annotation for %s" % (
                _where(module, node), name, ", ".join(missing)))
            for name, node, is_method in _public_functions(_tree(module))
            for missing in [_unannotated(node, is_method)] if missing]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_public_functions_are_annotated(module):
    gaps = _annotation_gaps(module)
    assert not gaps, "\n".join(text for _, text in gaps)


def test_annotation_check_finds_gaps(tmp_path, monkeypatch):
    source = tmp_path / "sample.py"
    source.write_text(
        "class Public:\n"
        "    def __init__(self, a): pass\n"
        "    def ok(self, a: int) -> int: return a\n"
        "    def no_return(self, a: int): pass\n"
        "    @staticmethod\n"
        "    def static(a) -> None: pass\n"
        "    def _private(self, a): pass\n"
        "class _Private:\n"
        "    def method(self, a): pass\n"
        "def f(a: int, *args, b: str = '', **kw: int) -> None:\n"
        "    def inner(x): pass\n"
        "def __getattr__(name): pass\n"
        "def _g(x): pass\n"
        "if True:\n"
        "    def h() -> None: pass\n"
        "    def k(): pass\n")
    monkeypatch.setitem(MODULES, "sample", source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "pkg")
    gaps = [text.split(" ", 1)[1] for _, text in _annotation_gaps("sample")]
    assert gaps == [
        "Public.__init__: no annotation for a, return",
        "Public.no_return: no annotation for return",
        "Public.static: no annotation for a",
        "f: no annotation for *args",
        "__getattr__: no annotation for name, return",
        "k: no annotation for return",
    ]


# -- (c) exceptions ------------------------------------------------------------

def _exception_classes(module_name):
    module = importlib.import_module(module_name)
    return [value for value in vars(module).values()
            if inspect.isclass(value) and issubclass(value, BaseException)
            and value.__module__ == module_name]


def _foreign_exceptions(module_name):
    return [(module_name, "%s.%s derives from %s, not IISWSGIError" % (
                module_name, cls.__qualname__,
                ", ".join(base.__name__ for base in cls.__bases__)))
            for cls in _exception_classes(module_name)
            if not issubclass(cls, IISWSGIError)
            and "%s.%s" % (module_name, cls.__qualname__)
            not in CONTROL_FLOW]


def test_exceptions_derive_from_iiswsgi_error():
    violations = []
    for module in MODULES:
        if module not in NOT_IMPORTED:
            violations += _foreign_exceptions(module)
    _report("exceptions outside IISWSGIError", violations)


def test_control_flow_exceptions_exist():
    """Every CONTROL_FLOW entry names a real class that is not an
    IISWSGIError: a stale entry would excuse nothing, or the wrong thing."""
    for name in sorted(CONTROL_FLOW):
        module, _, qualname = name.rpartition(".")
        cls = getattr(importlib.import_module(module), qualname)
        assert issubclass(cls, BaseException), name
        assert not issubclass(cls, IISWSGIError), name


def test_not_imported_modules_have_no_exception_classes():
    """The modules (c) cannot import define no exception class of their
    own (read from their source instead)."""
    for module in sorted(NOT_IMPORTED):
        classes = [node.name for node in ast.walk(_tree(module))
                   if isinstance(node, ast.ClassDef) and any(
                       isinstance(base, ast.Name) and (
                           base.id.endswith(("Error", "Exception"))
                           or base.id == "BaseException")
                       for base in node.bases)]
        assert classes == [], module


def test_exception_check_finds_a_foreign_exception(monkeypatch):
    import types
    sample = types.ModuleType("sample_errors")

    class Plain(ValueError):
        pass

    class Ours(IISWSGIError, ValueError):
        pass
    for cls in (Plain, Ours):
        cls.__module__ = sample.__name__
        cls.__qualname__ = cls.__name__
        setattr(sample, cls.__name__, cls)
    monkeypatch.setitem(sys.modules, sample.__name__, sample)
    assert _foreign_exceptions(sample.__name__) == [
        (sample.__name__,
         "sample_errors.Plain derives from ValueError, not IISWSGIError")]


def _standard_bases():
    from iiswsgi.gateway import body, transport
    from iiswsgi.gateway.errors import GatewayError
    from iiswsgi.msdeploy import PackageError, options
    from iiswsgi.settings import SettingsError
    from iiswsgi.webpi import FeedError
    return [
        (body.ClientDisconnected, (GatewayError, OSError)),
        (body.RequestTooLarge, (GatewayError, ValueError)),
        (transport.ConnectionLost, (GatewayError, OSError)),
        (transport.ReadTimeout, (transport.ConnectionLost, OSError)),
        (transport.StdinUnusable, (GatewayError,)),
        (options.ProviderOptionsError, (PackageError, ValueError)),
        (SettingsError, (ValueError,)),
        (FeedError, (ValueError,)),
    ]


def test_errors_keep_their_standard_base():
    """Joining IISWSGIError kept each error's standard base, so the
    ``except OSError`` / ``except ValueError`` clauses written before still
    catch it."""
    for cls, bases in _standard_bases():
        assert issubclass(cls, IISWSGIError), cls
        for base in bases:
            assert issubclass(cls, base), (cls, base)


def test_a_disconnect_is_still_an_oserror_from_a_real_body():
    """wsgi.input's ClientDisconnected, raised by a read, caught the old
    way and the new way, with its errno and message as before."""
    from iiswsgi.gateway.body import ClientDisconnected, Input

    def pull():
        raise ClientDisconnected(0, "the web server aborted the request")
    for caught in (OSError, IISWSGIError):
        with pytest.raises(caught) as info:
            Input(pull).read()
        assert info.value.errno == 0
        assert str(info.value) == "[Errno 0] the web server aborted the request"


def test_a_bad_options_blob_is_still_a_valueerror():
    from iiswsgi.msdeploy import PackageError, decode_provider_options
    for caught in (ValueError, PackageError):
        with pytest.raises(caught, match="not base64"):
            decode_provider_options("not base64!")


# -- (d) logger names ------------------------------------------------------------

def _logger_names(tree):
    """(node, name) of every getLogger("literal") call."""
    found = []
    for call in _calls(tree):
        func = call.func
        name = (func.attr if isinstance(func, ast.Attribute)
                else func.id if isinstance(func, ast.Name) else None)
        if (name == "getLogger" and call.args
                and isinstance(call.args[0], ast.Constant)
                and isinstance(call.args[0].value, str)):
            found.append((call, call.args[0].value))
    return found


def _bad_logger_names(module):
    return [(module, "%s getLogger(%r): name it %r (logging.getLogger("
                     "__name__))" % (_where(module, node), name, module))
            for node, name in _logger_names(_tree(module))
            if name != module and name not in CHANNELS
            and (module, name) not in FOREIGN_LOGGERS]


def test_logger_names_follow_the_module_path():
    violations = []
    for module in MODULES:
        violations += _bad_logger_names(module)
    _report("logger names", violations)


def test_logger_check_finds_a_wrong_name(tmp_path, monkeypatch):
    source = tmp_path / "sample.py"
    source.write_text(
        "import logging\nfrom logging import getLogger\n"
        "a = logging.getLogger('iiswsgi.sample')\n"
        "b = logging.getLogger(__name__)\n"
        "c = logging.getLogger('iiswsgi.stdout')\n"
        "d = logging.getLogger('iiswsgi')\n"
        "e = getLogger('other')\n")
    monkeypatch.setitem(MODULES, "iiswsgi.sample", source)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "pkg")
    assert [text.split(" ", 1)[1] for _, text in
            _bad_logger_names("iiswsgi.sample")] == [
        "getLogger('iiswsgi'): name it 'iiswsgi.sample'"
        " (logging.getLogger(__name__))",
        "getLogger('other'): name it 'iiswsgi.sample'"
        " (logging.getLogger(__name__))",
    ]


# -- py.typed ---------------------------------------------------------------------

def test_py_typed_marker_ships():
    """PEP 561: the marker is in the package and setup.cfg ships it."""
    import configparser
    assert (PACKAGE / "py.typed").is_file()
    setup_cfg = PACKAGE.parent / "setup.cfg"
    if not setup_cfg.is_file():
        pytest.skip("not a source checkout")
    parser = configparser.ConfigParser()
    parser.read(setup_cfg, encoding="utf-8")
    shipped = parser.get("options.package_data", "iiswsgi").split()
    assert "py.typed" in shipped
