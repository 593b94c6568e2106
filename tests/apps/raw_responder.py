"""A FastCGI responder that is not the gateway, for the emulator's tests
of what IIS does with FCGI_STDERR output and broken answers.

    python raw_responder.py

Serves requests on the channel IIS gives as standard input.  With
RAW_RESPONDER_STUBBORN set it ignores SIGTERM and lingers after its
channel closes.  The request's
path picks the answer:

* ``/stderr``: a normal answer, with a line on FCGI_STDERR before it;
* ``/stderr-late``: the answer, then the FCGI_STDERR line;
* ``/noheaders``: a body with no blank line ending the headers;
* ``/hang``: no answer at all;
* ``/drip``: headers, then a byte every half second, never ending;
* ``/location``: only a Location header (IIS makes that a 302);
* anything else: ``ok`` with ``Status: 201``.
"""

import os
import signal
import socket
import time

from iiswsgi.protocol import fastcgi


def answer(connection, request_id, path):
    out = (lambda rid, data: connection.send_stdout(data))
    err = (lambda text: fastcgi.encode_record(fastcgi.STDERR, request_id,
                                              text))
    headers = b"Content-Type: text/plain\r\n\r\n"
    if path == "/stderr":
        return [err(b"warning: the database is slow\n"),
                out(request_id, headers + b"body after stderr")]
    if path == "/stderr-late":
        return [out(request_id, headers + b"body before stderr"),
                err(b"warning: late\n")]
    if path == "/noheaders":
        return [out(request_id, b"just a body, no headers")]
    if path == "/hang":
        time.sleep(3600)
    if path == "/location":
        return [out(request_id, b"Location: /elsewhere\r\n\r\n")]
    return [out(request_id, b"Status: 201\r\n" + headers + b"ok")]


def main():
    if os.environ.get("RAW_RESPONDER_STUBBORN"):
        # A process that outstays its welcome: deaf to SIGTERM, and still
        # there long after its channel closes.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    channel = socket.socket(fileno=os.dup(0))
    connection = fastcgi.Connection()
    path = None
    while True:
        event = connection.next_event()
        if event is fastcgi.CLOSED:
            if os.environ.get("RAW_RESPONDER_STUBBORN"):
                time.sleep(120)
            return
        if event is fastcgi.NEED_DATA:
            connection.receive_data(channel.recv(65536))
            continue
        if isinstance(event, fastcgi.Request):
            path = event.params.get("PATH_INFO")
        elif isinstance(event, fastcgi.BodyEnd):
            if path == "/drip":
                channel.sendall(connection.send_stdout(
                    b"Content-Type: text/plain\r\n\r\n"))
                while True:
                    time.sleep(0.5)
                    channel.sendall(connection.send_stdout(b"."))
            data = answer(connection, event.request_id, path)
            data.append(connection.end_request(0))
            channel.sendall(b"".join(data))
        pending = connection.data_to_send()
        if pending:
            channel.sendall(pending)


if __name__ == "__main__":
    main()
