"""The ``iiswsgi`` command."""

import argparse
import logging.config
import os
import sys

from . import __version__

__all__ = ["main"]


def _serve(args):
    from paste.deploy import loadapp, loadserver
    from paste.deploy.loadwsgi import SERVER, loadcontext

    from .server import server_factory, server_runner

    path = os.path.abspath(args.config)
    if not os.path.isfile(path):
        raise SystemExit("iiswsgi serve: no such file: %s" % path)
    uri = "config:" + path
    here = os.path.dirname(path)
    _configure_logging(path, here)
    overrides = {name: value for name, value in (
        ("host", args.host), ("port", args.port), ("socket", args.socket),
        ("log_file", args.log_file)) if value is not None}
    if args.debug:
        overrides["debug"] = True
    try:
        context = loadcontext(SERVER, uri, name=args.server_name)
    except LookupError:
        context = None
    app = loadapp(uri, name=args.app_name)
    if context is not None and context.object not in (server_factory,
                                                      server_runner):
        if overrides:
            raise SystemExit(
                "iiswsgi serve: [server:%s] in %s does not use"
                " egg:iiswsgi#iis, so --host, --port, --socket, --log-file"
                " and --debug do not apply" % (args.server_name, path))
        loadserver(uri, name=args.server_name)(app)
        return 0
    options = dict(context.local_conf) if context is not None else {}
    global_conf = dict(context.global_conf) if context is not None else {}
    global_conf.setdefault("here", here)
    options.update(overrides)
    try:
        server_runner(app, global_conf, **options)
    except ValueError as error:
        raise SystemExit("iiswsgi serve: %s: %s" % (path, error))
    return 0


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


def _parser():
    parser = argparse.ArgumentParser(
        prog="iiswsgi",
        description="Serve Python WSGI applications from IIS (and other"
                    " FastCGI web servers).")
    parser.add_argument("--version", action="version",
                        version="iiswsgi %s" % __version__)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser(
        "serve", help="serve the application of a Paste Deploy ini file",
        description="Serve the [app:main] of a Paste Deploy ini file with the"
                    " iiswsgi FastCGI gateway, as `paster serve` does, without"
                    " PasteScript.  With no address it serves what the web"
                    " server gave as standard input (the IIS pipe or a"
                    " listening socket).")
    serve.add_argument("config", help="the .ini file")
    serve.add_argument("--host", help="listen on this address (with --port)")
    serve.add_argument("--port", type=int, help="listen on this TCP port")
    serve.add_argument("--socket", help="listen on this Unix socket path")
    serve.add_argument("--log-file", help="write the log here")
    serve.add_argument("--debug", action="store_true",
                       help="show tracebacks in error pages; log more")
    serve.add_argument("-n", "--app-name", default="main",
                       help="the [app:NAME] to serve (default: main)")
    serve.add_argument("--server-name", default="main",
                       help="the [server:NAME] to read options from"
                            " (default: main)")
    serve.set_defaults(run=_serve)
    return parser


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
