"""The server variables IIS's FastCGI module sends with a request."""

import os

__all__ = ["SERVER_SOFTWARE", "server_variables"]

SERVER_SOFTWARE = "Microsoft-IIS/10.0"


def server_variables(url_path, raw_uri, physical_path, app_path="",
                     site_id=1, method="GET", content_length=0,
                     server_name="localhost", server_port="80",
                     protocol="HTTP/1.1", remote_addr="127.0.0.1",
                     remote_port="", local_addr="127.0.0.1"):
    """IIS's variables (text) for a request to ``url_path`` (the decoded
    path, with the application's) sent as ``raw_uri`` (path and query as
    they came), to the application at ``app_path`` ("" for the root) in
    the folder ``physical_path``; request headers are the caller's."""
    meta = "/LM/W3SVC/%d" % site_id
    physical = os.path.join(os.path.abspath(physical_path), "")
    relative = url_path[len(app_path):].lstrip("/")
    return {
        "APPL_MD_PATH": meta + "/ROOT" + app_path,
        "APPL_PHYSICAL_PATH": physical,
        "INSTANCE_ID": str(site_id),
        "INSTANCE_META_PATH": meta,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PORT_SECURE": "0",
        "SERVER_PROTOCOL": protocol,
        "REQUEST_METHOD": method,
        "QUERY_STRING": raw_uri.partition("?")[2],
        "CONTENT_LENGTH": str(content_length or 0),
        # IIS gives the whole decoded path in both.
        "SCRIPT_NAME": url_path,
        "PATH_INFO": url_path,
        "URL": url_path,
        "PATH_TRANSLATED": os.path.join(physical, *relative.split("/")),
        "REQUEST_URI": raw_uri,
        "UNENCODED_URL": raw_uri,
        "REMOTE_ADDR": remote_addr,
        "REMOTE_HOST": remote_addr,
        "REMOTE_PORT": str(remote_port),
        "REMOTE_USER": "",
        "LOGON_USER": "",
        "AUTH_TYPE": "",
        "AUTH_USER": "",
        "AUTH_PASSWORD": "",
        "LOCAL_ADDR": local_addr,
        "HTTPS": "off",
    }
