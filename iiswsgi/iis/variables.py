"""The server variables IIS's FastCGI module sends with a request."""

import os
from typing import Dict, Optional, Union

__all__ = ["SERVER_SOFTWARE", "server_variables"]

SERVER_SOFTWARE = "Microsoft-IIS/10.0"

# Sent empty for a request without TLS or a client certificate (with
# complete=True): IIS sends every variable of its set, most of them empty.
_EMPTY_WITHOUT_TLS = (
    "CERT_COOKIE", "CERT_FLAGS", "CERT_ISSUER", "CERT_KEYSIZE",
    "CERT_SECRETKEYSIZE", "CERT_SERIALNUMBER", "CERT_SERVER_ISSUER",
    "CERT_SERVER_SUBJECT", "CERT_SUBJECT", "HTTPS_KEYSIZE",
    "HTTPS_SECRETKEYSIZE", "HTTPS_SERVER_ISSUER", "HTTPS_SERVER_SUBJECT",
)


def server_variables(url_path: str, raw_uri: str, physical_path: str,
                     app_path: str = "", site_id: int = 1,
                     method: str = "GET",
                     content_length: Optional[Union[int, str]] = 0,
                     server_name: str = "localhost",
                     server_port: Union[int, str] = "80",
                     protocol: str = "HTTP/1.1",
                     remote_addr: str = "127.0.0.1",
                     remote_port: Union[int, str] = "",
                     local_addr: str = "127.0.0.1", https: bool = False,
                     resolve_physical_path: bool = True,
                     complete: bool = False) -> Dict[str, str]:
    """IIS's variables (text) for a request to ``url_path`` (the decoded
    path, with the application's) sent as ``raw_uri`` (path and query as
    they came), to the application at ``app_path`` ("" for the root) in
    the folder ``physical_path``; request headers are the caller's.

    ``physical_path`` is a local folder, made absolute and given IIS's
    trailing separator; with ``resolve_physical_path=False`` it is taken
    as given (a Windows path as IIS would send it, its trailing backslash
    included) and PATH_TRANSLATED is joined with backslashes.  ``https``:
    the request came over TLS (HTTPS "on", SERVER_PORT_SECURE 1; the port
    is still ``server_port``).  ``complete``: also the variables IIS sends
    empty without a client certificate (CERT_*, HTTPS_KEYSIZE, ...), an
    empty CONTENT_TYPE, SCRIPT_FILENAME and CACHE_URL, as a browser's GET
    through IIS 10 carries them.
    """
    meta = "/LM/W3SVC/%d" % site_id
    relative = url_path[len(app_path):].lstrip("/")
    if resolve_physical_path:
        physical = os.path.join(os.path.abspath(physical_path), "")
        translated = os.path.join(physical, *relative.split("/"))
    else:
        physical = physical_path
        translated = physical + relative.replace("/", "\\")
    variables = {
        "APPL_MD_PATH": meta + "/ROOT" + app_path,
        "APPL_PHYSICAL_PATH": physical,
        "INSTANCE_ID": str(site_id),
        "INSTANCE_META_PATH": meta,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": SERVER_SOFTWARE,
        "SERVER_NAME": server_name,
        "SERVER_PORT": str(server_port),
        "SERVER_PORT_SECURE": "1" if https else "0",
        "SERVER_PROTOCOL": protocol,
        "REQUEST_METHOD": method,
        "QUERY_STRING": raw_uri.partition("?")[2],
        "CONTENT_LENGTH": str(content_length or 0),
        # IIS gives the whole decoded path in both.
        "SCRIPT_NAME": url_path,
        "PATH_INFO": url_path,
        "URL": url_path,
        "PATH_TRANSLATED": translated,
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
        "HTTPS": "on" if https else "off",
    }
    if complete:
        variables.update(dict.fromkeys(_EMPTY_WITHOUT_TLS, ""))
        variables["CONTENT_TYPE"] = ""
        variables["SCRIPT_FILENAME"] = translated
        variables["CACHE_URL"] = "%s://%s:%s%s" % (
            "https" if https else "http", server_name, server_port,
            raw_uri)
    return variables
