"""Run by Windows CPython under Wine (tests/windows/test_eventlog_wine.py).

``eventlog_probe.py ROOT WORKDIR``: write to the Application event log the
ways the gateway does (directly; when no log file can be opened; when the
WSGI application cannot be loaded) and report the results as one JSON line.
"""

import json
import logging
import os
import subprocess
import sys

# `python -m iiswsgi` on an interpreter without flup (a bad interpreter
# for the gateway): it must say why in the event log, then exit non-zero.
WITHOUT_FLUP = (
    "import runpy, sys; sys.path.insert(0, sys.argv[1]);"
    " sys.modules.update(dict.fromkeys(['flup', 'flup.server']));"
    " runpy.run_module('iiswsgi', run_name='__main__', alter_sys=True)")


def main():
    root, workdir = sys.argv[1:3]
    sys.path.insert(0, root)
    from iiswsgi import logs
    from iiswsgi.hosting import HostedApplication
    from iiswsgi.iis import winapi
    found = {"direct": winapi.report_event("iiswsgi", "iiswsgi direct event"),
             "warning": winapi.report_event("iiswsgi", "iiswsgi warning event",
                                            error=False),
             "through_logs": logs.report_to_event_log(
                 "iiswsgi event through logs")}
    blocker = os.path.join(workdir, "afile")
    with open(blocker, "w") as stream:
        stream.write("a file where the log's folder should be")
    found["log_path"] = logs.configure(os.path.join(blocker, "site.log"))
    site = os.path.join(workdir, "site")
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "web.config"), "w") as stream:
        stream.write('<configuration><appSettings><add key="WSGI_HANDLER"'
                     ' value="no_such_module_q7.application" />'
                     "</appSettings></configuration>")
    statuses = []
    application = HostedApplication()
    application({"APPL_PHYSICAL_PATH": site + "\\"},
                lambda status, headers: statuses.append(status))
    found["status"] = statuses
    logging.shutdown()
    child = subprocess.run([sys.executable, "-c", WITHOUT_FLUP, root],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=120)
    found["without_flup_exit"] = child.returncode
    sys.stdout.write(json.dumps(found) + "\n")


if __name__ == "__main__":
    main()
