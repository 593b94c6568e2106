"""Run by Windows CPython under Wine (tests/windows/test_log_rotation_wine.py).

``rotation_writer.py ROOT LOG WRITERS LINES MAX_BYTES``: start WRITERS
processes that each write LINES records to LOG through iiswsgi.logs, rotated
at MAX_BYTES, all at once; then report, as one JSON line, what every log file
holds."""

import json
import os
import subprocess
import sys

CHILD = """
import logging, os, sys
sys.path.insert(0, sys.argv[1])
from iiswsgi import logs
logs.configure(sys.argv[2], max_bytes=int(sys.argv[4]), backup_count=1000)
writer = logging.getLogger("iiswsgi.writer")
for number in range(int(sys.argv[3])):
    writer.info("writer %d line %05d " + "x" * 60, os.getpid(), number)
"""


def main():
    root, log, writers, lines, max_bytes = sys.argv[1:6]
    children = [subprocess.Popen(
        [sys.executable, "-c", CHILD, root, log, lines, max_bytes],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(int(writers))]
    errors = [child.communicate(timeout=600)[1].decode("utf-8", "replace")
              for child in children]
    folder = os.path.dirname(log)
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        with open(path, encoding="utf-8") as stream:
            files[name] = stream.read()
    sys.stdout.write(json.dumps({
        "exit_codes": [child.returncode for child in children],
        "stderr": errors, "files": files}) + "\n")


if __name__ == "__main__":
    main()
