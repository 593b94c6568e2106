"""nginx in front of a FastCGI backend on a Unix socket: its configuration
(one worker, keep-alive upstream, files in a private folder), starting it,
and checking it answers hello."""

import http.client
import os
import subprocess
from typing import Tuple

from bench_apps import BODY
from harness import REQUEST_PATH, BenchError
from harness.processes import start_process, tail, wait_until
from harness.sockets import free_port, tcp_accepts

# What nginx passes to the backend (SCRIPT_NAME empty, PATH_INFO $uri).
FASTCGI_PARAMS = [
    ("QUERY_STRING", "$query_string"),
    ("REQUEST_METHOD", "$request_method"),
    ("CONTENT_TYPE", "$content_type"),
    ("CONTENT_LENGTH", "$content_length"),
    ("SCRIPT_NAME", '""'),
    ("PATH_INFO", "$uri"),
    ("REQUEST_URI", "$request_uri"),
    ("SERVER_PROTOCOL", "$server_protocol"),
    ("REQUEST_SCHEME", "$scheme"),
    ("GATEWAY_INTERFACE", "CGI/1.1"),
    ("SERVER_SOFTWARE", "nginx/$nginx_version"),
    ("REMOTE_ADDR", "$remote_addr"),
    ("REMOTE_PORT", "$remote_port"),
    ("SERVER_ADDR", "$server_addr"),
    ("SERVER_PORT", "$server_port"),
    ("SERVER_NAME", "$server_name"),
]


def nginx_config(directory: str, port: int, backend_socket: str) -> str:
    """nginx.conf for one benchmark run: listen on 127.0.0.1:``port``,
    pass everything to ``backend_socket``, keep state in ``directory``."""
    user = ""
    if os.geteuid() == 0:
        import grp
        import pwd
        # As root, nginx would run its worker as nobody, who cannot reach
        # the backend's socket in our private directory.
        user = "user %s %s;\n" % (pwd.getpwuid(0).pw_name,
                                   grp.getgrgid(0).gr_name)
    temp = os.path.join(directory, "temp")
    os.makedirs(temp, exist_ok=True)
    params = "".join("            fastcgi_param %s %s;\n" % pair
                     for pair in FASTCGI_PARAMS)
    return """# Written by bench/harness/nginx.py for one benchmark run.
daemon off;
master_process on;
worker_processes 1;
{user}pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    worker_connections 256;
}}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    fastcgi_temp_path {temp}/fastcgi;
    proxy_temp_path {temp}/proxy;
    scgi_temp_path {temp}/scgi;
    uwsgi_temp_path {temp}/uwsgi;
    upstream backend {{
        server unix:{sock};
        keepalive 8;
    }}
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        location / {{
            fastcgi_pass backend;
            fastcgi_keep_conn on;
{params}        }}
    }}
}}
""".format(user=user, dir=directory, temp=temp, sock=backend_socket,
           port=port, params=params)


def start_nginx(nginx: str, directory: str, backend_socket: str
                ) -> Tuple[subprocess.Popen, int]:
    """Start nginx (its configuration, logs and temporary files in
    ``directory``) in front of ``backend_socket`` on a free port; return
    (its process, the port) once it accepts connections."""
    port = free_port()
    config = os.path.join(directory, "nginx.conf")
    with open(config, "w") as f:
        f.write(nginx_config(directory, port, backend_socket))
    errors = os.path.join(directory, "nginx.stderr")
    with open(errors, "ab") as stderr:
        web = start_process([nginx, "-p", directory, "-c", config,
                             "-e", "stderr"], stdin=subprocess.DEVNULL,
                            stdout=stderr, stderr=stderr)
    wait_until(lambda: tcp_accepts(port) or web.poll() is not None, 10,
               "nginx on port %d" % port)
    if web.poll() is not None:
        raise BenchError("nginx exited: %s" % tail(errors))
    return web, port


def http_check(port: int) -> None:
    """GET the hello page through 127.0.0.1:``port``: 200 and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", REQUEST_PATH)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200 or body != BODY:
        raise BenchError("through nginx: status %d, body %r"
                         % (response.status, body[:200]))


def nginx_sent_params(port: int = 8080, path: str = REQUEST_PATH,
                      remote_port: int = 51234):
    """The parameters nginx 1.22 sends for wrk's ``GET path`` with the
    stock ``include fastcgi_params`` (Debian's), SCRIPT_NAME and PATH_INFO
    set as in the README's recipe, and wrk's one header (Host), which
    nginx passes as HTTP_HOST: what a request costs the gateway behind a
    real nginx, for figures that do not need nginx running."""
    return [
        ("QUERY_STRING", ""),
        ("REQUEST_METHOD", "GET"),
        ("CONTENT_TYPE", ""),
        ("CONTENT_LENGTH", ""),
        ("SCRIPT_NAME", ""),
        ("REQUEST_URI", path),
        ("DOCUMENT_URI", path),
        ("DOCUMENT_ROOT", "/usr/share/nginx/html"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REQUEST_SCHEME", "http"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
        ("SERVER_SOFTWARE", "nginx/1.22.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("REMOTE_PORT", str(remote_port)),
        ("SERVER_ADDR", "127.0.0.1"),
        ("SERVER_PORT", str(port)),
        ("SERVER_NAME", "localhost"),
        ("REDIRECT_STATUS", "200"),
        ("PATH_INFO", path),
        ("HTTP_HOST", "127.0.0.1:%d" % port),
    ]
