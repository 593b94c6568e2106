"""``python -m iiswsgi``: with no arguments (as IIS starts it from a
web.config handler, ``python.exe|-m iiswsgi``), the wfastcgi-style
gateway; with a subcommand (``python -m iiswsgi package ...``), or
``--help``/``--version``, the ``iiswsgi`` command.  Other arguments go to
the gateway, which logs that it ignores them, as before."""

import sys


def _run() -> int:
    if len(sys.argv) > 1:
        from .cli import command_names, main as cli_main
        if sys.argv[1] in command_names() or sys.argv[1] in (
                "-h", "--help", "--version"):
            return cli_main(sys.argv[1:])
    from .hosting.launch import main
    return main()


sys.exit(_run())
