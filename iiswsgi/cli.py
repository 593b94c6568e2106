"""The ``iiswsgi`` command."""

import argparse
import logging.config
import os
import sys
from typing import Optional, Sequence, TextIO

from . import __version__, settings

__all__ = ["command_names", "disable_main", "enable_main", "main"]


def _say(text: str = "", stream: Optional[TextIO] = None) -> None:
    """One line of the command's own output, its answer to the person who
    ran it (not a log record): to standard output, or to ``stream``
    (standard error for failures), flushed at once."""
    stream = sys.stdout if stream is None else stream
    stream.write(text + "\n")
    stream.flush()


def _serve_spec(args):
    """``iiswsgi serve module:app``: no ini, the options from the command
    line only."""
    from .gateway.paste import AppSpecError, load_app_spec, serve

    given = {opt.name: getattr(args, opt.name) for opt in settings.flags()
             if getattr(args, opt.name) not in (None, False)}
    try:
        keywords = settings.server_keywords(
            settings.parse(given, settings.COMMAND_LINE),
            settings.COMMAND_LINE)
    except settings.SettingsError as error:
        raise SystemExit("iiswsgi serve: %s" % error)
    try:
        app = load_app_spec(args.config)
    except AppSpecError as error:
        raise SystemExit("iiswsgi serve: %s" % error)
    # No app_dir: the folder watched for changes is the site's, as the
    # first request names it (APPL_PHYSICAL_PATH), not wherever the web
    # server started the process.
    status = serve(app, **keywords)
    if status:
        raise SystemExit(status)
    return 0


def _serve(args):
    from .gateway.paste import is_app_spec

    path = os.path.abspath(args.config)
    if not os.path.isfile(path):
        if is_app_spec(args.config):
            return _serve_spec(args)
        raise SystemExit(
            "iiswsgi serve: no such file: %s (give a Paste Deploy ini, or"
            " MODULE:APP such as myproject.wsgi:application)" % path)

    from paste.deploy import loadapp, loadserver
    from paste.deploy.loadwsgi import SERVER, loadcontext

    from .gateway.paste import serve, server_factory, server_runner

    uri = "config:" + path
    here = os.path.dirname(path)
    _configure_logging(path, here)
    given = {opt.name: getattr(args, opt.name) for opt in settings.flags()
             if getattr(args, opt.name) not in (None, False)}
    try:
        context = loadcontext(SERVER, uri, name=args.server_name)
    except LookupError:
        context = None
    if context is not None and context.object not in (server_factory,
                                                      server_runner):
        if given:
            raise SystemExit(
                "iiswsgi serve: [server:%s] in %s does not use"
                " egg:iiswsgi#iis, so %s do not apply" % (
                    args.server_name, path, _flag_list()))
        app = loadapp(uri, name=args.app_name)
        loadserver(uri, name=args.server_name)(app)
        return 0
    options = dict(context.local_conf) if context is not None else {}
    global_conf = dict(context.global_conf) if context is not None else {}
    global_conf.setdefault("here", here)
    # Every option is checked before the application is loaded and before
    # anything is bound or read.
    try:
        values = settings.parse(options, settings.ini_source(
            path, "server:%s" % args.server_name))
        values.update(settings.parse(given, settings.COMMAND_LINE))
        keywords = settings.server_keywords(values, settings.ini_source(
            path, "server:%s" % args.server_name))
    except settings.SettingsError as error:
        raise SystemExit("iiswsgi serve: %s" % error)
    keywords.setdefault("app_dir", global_conf.get("here"))
    app = loadapp(uri, name=args.app_name)
    status = serve(app, **keywords)
    if status:
        raise SystemExit(status)
    return 0


def _flag_list():
    flags = [opt.flag for opt in settings.flags()]
    return ", ".join(flags[:-1]) + " and " + flags[-1]


def _configure_logging(path, here):
    # As `paster serve` does: an ini with [loggers] configures logging.
    import configparser
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        return
    if parser.has_section("loggers"):
        logging.config.fileConfig(
            path, {"here": here, "__file__": path},
            disable_existing_loggers=False)


def _appcmd_failure(name, error):
    """Say what went wrong running appcmd, and what to do; the exit
    status."""
    from .iis.appcmd import AppcmdNotFound
    _say("iiswsgi %s: %s" % (name, error), sys.stderr)
    if isinstance(error, AppcmdNotFound):
        _say("For IIS Express, give its appcmd.exe as the first argument:"
             ' iiswsgi %s "C:\\Program Files\\IIS Express\\appcmd.exe"'
             " [/apphostconfig:FILE]" % name, sys.stderr)
    elif error.access_denied:
        _say("appcmd needs administrator rights: open a command prompt with"
             ' "Run as administrator" and run this command again.',
             sys.stderr)
    return 1


def _appcmd_command(name, words):
    """The appcmd command given on an enable or disable command line:
    None, or every word when the first is an existing file (as
    wfastcgi-enable takes it)."""
    if not words:
        return None
    from .iis.appcmd import AppcmdNotFound, find_appcmd
    try:
        return find_appcmd(list(words))
    except AppcmdNotFound:
        raise SystemExit(
            "iiswsgi %s: %s is not a file. With no argument, appcmd.exe is"
            " found where IIS keeps it; the first argument, when given, is"
            " the path of appcmd.exe (for IIS Express:"
            ' "C:\\Program Files\\IIS Express\\appcmd.exe"), followed by'
            " its own arguments (/apphostconfig:FILE)"
            % (name, words[0])) from None


def _enable(args):
    from .iis.appcmd import AppcmdError
    from .redaction import redact_value
    from .registration import enable, handler_snippet
    command = _appcmd_command("enable", args.appcmd)
    environment = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            _say("iiswsgi enable: --env %s: give NAME=VALUE" % item,
                 sys.stderr)
            return 2
        environment[name.strip()] = value
    try:
        result = enable(command, python=args.python, environment=environment)
    except ValueError as error:
        _say("iiswsgi enable: %s" % error, sys.stderr)
        return 1
    except AppcmdError as error:
        return _appcmd_failure("enable", error)
    processor = result.script_processor
    if result.added:
        _say("Registered the FastCGI application %s in"
             " applicationHost.config." % processor)
    elif result.changed:
        _say("The FastCGI application %s was already registered; its"
             " environment variables are now set." % processor)
    else:
        _say("The FastCGI application %s is already registered; nothing to"
             " do." % processor)
    for name, value in result.entry.get("environmentVariables", {}).items():
        _say("    environment: %s=%s" % (name, redact_value(name, value)))
    _say("It can now be used as a FastCGI script processor.")
    _say()
    _say("The site's handler must name it exactly, character for character"
         " (quotes included):")
    _say()
    _say("    scriptProcessor: %s" % processor)
    _say()
    _say("For example, the site's web.config:")
    _say()
    _say(handler_snippet(processor))
    return 0


def _disable(args):
    from .iis.appcmd import AppcmdError
    from .registration import disable
    command = _appcmd_command("disable", args.appcmd)
    try:
        result = disable(command, python=args.python)
    except ValueError as error:
        _say("iiswsgi disable: %s" % error, sys.stderr)
        return 1
    except AppcmdError as error:
        return _appcmd_failure("disable", error)
    if result.changed:
        _say("The FastCGI application %s is no longer registered."
             % result.script_processor)
    else:
        _say("The FastCGI application %s is not registered; nothing to do."
             % result.script_processor)
    return 0


def _doctor(args):
    from .iis.appcmd import AppcmdNotFound, find_appcmd
    from .doctor import PROBLEM, WARNING, diagnose
    command = [args.appcmd] if args.appcmd else None
    if args.apphostconfig:
        try:
            command = find_appcmd(command) + [
                "/apphostconfig:" + args.apphostconfig]
        except AppcmdNotFound:
            pass                  # the check says so
    app_dir = os.path.abspath(args.app_dir)
    _say("iiswsgi doctor: %s" % app_dir)
    findings = diagnose(app_dir, command)
    for finding in findings:
        _say("%-8s %s" % (finding.status, finding.message))
        for line in finding.detail.splitlines():
            _say("         | %s" % line)
        if finding.fix:
            lines = finding.fix.splitlines()
            _say("         fix: %s" % lines[0])
            for line in lines[1:]:
                _say("              %s" % line)
    problems = sum(finding.status == PROBLEM for finding in findings)
    warnings = sum(finding.status == WARNING for finding in findings)
    _say("%d problem%s, %d warning%s" % (
        problems, "" if problems == 1 else "s",
        warnings, "" if warnings == 1 else "s"))
    return 1 if problems else 0


def _emulate(args):
    from .emulator import ConfigError, EmulatorServer

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s", datefmt="%H:%M:%S",
        stream=sys.stdout)
    if not args.verbose:
        logging.getLogger("waitress").setLevel(logging.WARNING)
    try:
        server = EmulatorServer(args.site_dir, args.host, args.port,
                                args.apphost)
    except ConfigError as error:
        _say("iiswsgi emulate: %s" % error, sys.stderr)
        return 2
    except OSError as error:
        _say("iiswsgi emulate: cannot listen on %s:%d: %s" % (
            args.host, args.port, error.strerror or error), sys.stderr)
        return 1
    urls = server.urls()
    _say("iiswsgi emulate: serving %s as IIS would, at %s" % (
        server.site_dir, urls[0]))
    for url in urls[1:]:
        _say("  another application of the site: %s" % url)
    _say("Press Ctrl-C to stop.")
    server.serve_forever()
    return 0


def _package(args):
    from .msdeploy.build import package_project
    from .msdeploy.errors import PackageError
    from .msdeploy.wheelhouse import Target
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(message)s", stream=sys.stderr)
    try:
        target = Target(args.python, args.platform)
        path = package_project(args.project_dir, args.dist_dir, target,
                               wheelhouse=not args.no_wheelhouse)
    except PackageError as error:
        _say("iiswsgi package: %s" % error, sys.stderr)
        return 1
    _say(path)
    return 0


def command_names() -> "list[str]":
    """The iiswsgi subcommands (``python -m iiswsgi NAME ...`` runs them)."""
    parser = _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return sorted(action.choices)
    return []


def _parser():
    parser = argparse.ArgumentParser(
        prog="iiswsgi",
        description="Serve Python WSGI applications from IIS (and other"
                    " FastCGI web servers).")
    parser.add_argument("--version", action="version",
                        version="iiswsgi %s" % __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="serve the application of a Paste Deploy ini file,"
                      " or MODULE:APP",
        description="Serve the [app:main] of a Paste Deploy ini file with the"
                    " iiswsgi FastCGI gateway, as `paster serve` does, without"
                    " PasteScript; or the WSGI application MODULE:APP names"
                    " (MODULE:FACTORY() calls FACTORY), as gunicorn and"
                    " waitress-serve take it.  With no address it serves what"
                    " the web server gave as standard input (the IIS pipe or"
                    " a listening socket).")
    serve.add_argument("config", metavar="INI_OR_MODULE:APP",
                       help="the .ini file, or MODULE:APP (MODULE:FACTORY())")
    for opt in settings.flags():
        if opt.convert is settings.convert_bool:
            serve.add_argument(opt.flag, dest=opt.name, action="store_true",
                               help=opt.doc)
        else:
            serve.add_argument(opt.flag, dest=opt.name, metavar="VALUE",
                               help=opt.doc)
    serve.add_argument("-n", "--app-name", default="main",
                       help="the [app:NAME] to serve (default: main)")
    serve.add_argument("--server-name", default="main",
                       help="the [server:NAME] to read options from"
                            " (default: main)")
    serve.set_defaults(run=_serve)
    enable = commands.add_parser(
        "enable", help="register this Python with IIS as a FastCGI"
                       " application (as an administrator)",
        description="Register this Python (%s) with the arguments"
                    " `-m iiswsgi` as a FastCGI application in IIS's"
                    " applicationHost.config, unless it is already, and"
                    " print the scriptProcessor a site's handler must use."
                    " Options go before APPCMD."
                    % sys.executable)
    enable.add_argument(
        "--python", metavar="PATH",
        help="register this interpreter instead (for a virtual"
             " environment, its base interpreter)")
    enable.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE",
        help="an environment variable IIS gives the processes, such as"
             " PYTHONPATH (may be repeated)")
    enable.add_argument(
        "appcmd", nargs=argparse.REMAINDER, metavar="APPCMD [ARGS]",
        help="appcmd.exe's path and arguments, for IIS Express (default:"
             " %%IIS_BIN%%\\appcmd.exe, else"
             " %%WINDIR%%\\System32\\inetsrv\\appcmd.exe)")
    enable.set_defaults(run=_enable)
    disable = commands.add_parser(
        "disable", help="remove what `iiswsgi enable` registered",
        description="Remove this Python (%s) with the arguments"
                    " `-m iiswsgi` from IIS's FastCGI applications, if it is"
                    " registered." % sys.executable)
    disable.add_argument("--python", metavar="PATH",
                         help="remove this interpreter's registration"
                              " instead")
    disable.add_argument(
        "appcmd", nargs=argparse.REMAINDER, metavar="APPCMD [ARGS]",
        help="appcmd.exe's path and arguments, as for enable")
    disable.set_defaults(run=_disable)
    doctor = commands.add_parser(
        "doctor", help="check a site's IIS set-up",
        description="Check the site in APPDIR: its web.config handler, the"
                    " FastCGI application it names, the interpreter,"
                    " WSGI_HANDLER, the log file, streaming and virtual"
                    " environments. Exits non-zero when something is wrong.")
    doctor.add_argument("app_dir", nargs="?", default=".", metavar="APPDIR",
                        help="the site's folder (default: the current one)")
    doctor.add_argument("--appcmd", metavar="PATH",
                        help="the appcmd.exe to list FastCGI applications"
                             " with")
    doctor.add_argument("--apphostconfig", metavar="FILE",
                        help="the applicationHost.config appcmd should read"
                             " (IIS Express)")
    doctor.set_defaults(run=_doctor)
    emulate = commands.add_parser(
        "emulate", help="run a site on this machine as IIS's FastCGI module"
                        " would",
        description="Serve the site in SITE_DIR over HTTP the way IIS"
                    " would: its web.config's FastCGI handler names the"
                    " process to start (scriptProcessor), which gets a"
                    " duplex channel as standard input, IIS's server"
                    " variables and its process pool (maxInstances,"
                    " instanceMaxRequests, activityTimeout, requestTimeout,"
                    " idleTimeout, queueLength, stderrMode,"
                    " responseBufferLimit).  Settings come from"
                    " applicationHost.config with --apphost, else from the"
                    " site's web.config <fastCgi>, else IIS's defaults."
                    " Runs on Linux and macOS.")
    emulate.add_argument("site_dir", metavar="SITE_DIR",
                         help="the site's folder, where its web.config is")
    emulate.add_argument("--host", default="127.0.0.1",
                         help="listen on this address (default: 127.0.0.1)")
    emulate.add_argument("--port", type=int, default=8080,
                         help="listen on this port (default: 8080; 0 picks a"
                              " free one)")
    emulate.add_argument("--apphost", metavar="FILE",
                         help="an applicationHost.config for the"
                              " <fastCgi><application> settings and the"
                              " site's other applications")
    emulate.add_argument("-v", "--verbose", action="store_true",
                         help="log more")
    emulate.set_defaults(run=_emulate)
    package = commands.add_parser(
        "package", help="build the Web Deploy package of a project, with a"
                        " wheelhouse for the target server",
        description="Build PROJECT_DIR's Web Deploy package,"
                    " DIST_DIR/<Name>-<version>-py<X.Y>-<platform>"
                    ".msdeploy.zip, from its pyproject.toml (any build"
                    " backend) or setup.py, with every wheel the target"
                    " needs in <Name>/wheelhouse.  Settings come from"
                    " pyproject.toml [tool.iiswsgi] (wsgi-handler, ...).")
    package.add_argument("project_dir", nargs="?", default=".",
                         metavar="PROJECT_DIR",
                         help="the project (default: the current folder)")
    package.add_argument("-d", "--dist-dir", metavar="DIST_DIR",
                         help="where to write the zip (default:"
                              " PROJECT_DIR/dist)")
    package.add_argument("--python", metavar="X.Y",
                         default="%d.%d" % sys.version_info[:2],
                         help="the target server's Python (default: this"
                              " one's, %(default)s)")
    package.add_argument("--platform", metavar="TAG", default="win_amd64",
                         help="the target's wheel platform tag (default:"
                              " %(default)s)")
    package.add_argument("--no-wheelhouse", action="store_true",
                         help="leave the wheelhouse out (nothing is"
                              " downloaded; the server's pip then needs"
                              " an index to install from)")
    package.add_argument("-v", "--verbose", action="store_true",
                         help="log more (pip's own output)")
    package.set_defaults(run=_package)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return args.run(args)


def enable_main(argv: Optional[Sequence[str]] = None) -> int:
    """The iiswsgi-enable command: iiswsgi enable."""
    return main(["enable"] + list(sys.argv[1:] if argv is None else argv))


def disable_main(argv: Optional[Sequence[str]] = None) -> int:
    """The iiswsgi-disable command: iiswsgi disable."""
    return main(["disable"] + list(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
