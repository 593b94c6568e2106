"""flup's own threaded FastCGI server on a Unix socket, for the nginx
benchmark: ``python flup_server.py SOCKET``."""

import sys

from flup.server.fcgi import WSGIServer

from bench_apps import hello

if __name__ == "__main__":
    WSGIServer(hello, bindAddress=sys.argv[1]).run()
