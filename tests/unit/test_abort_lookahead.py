"""Connection.abort_pending(): an FCGI_ABORT_REQUEST for the active
request is seen among the records received, without consuming them."""

from iiswsgi.protocol.fastcgi import Abort, Body, Connection, NEED_DATA, Request
from tests.support import fcgi


def active(body=b""):
    """A connection whose request 1 has its parameters, and ``body``
    records queued after them, unread."""
    conn = Connection()
    conn.receive_data(fcgi.begin(1) + fcgi.stream(
        fcgi.PARAMS, 1, fcgi.pairs({"A": "b"})) + body)
    assert type(conn.next_event()) is Request
    return conn


def test_an_abort_behind_body_records_is_seen_and_left_in_place():
    conn = active(fcgi.record(fcgi.STDIN, 1, b"x" * 100)
                  + fcgi.record(fcgi.STDIN, 1, b"y" * 50))
    assert not conn.abort_pending()
    conn.receive_data(fcgi.record(fcgi.ABORT_REQUEST, 1))
    assert conn.abort_pending()
    assert conn.abort_pending()                     # nothing was consumed
    events = [conn.next_event() for _ in range(3)]
    assert [type(e) for e in events] == [Body, Body, Abort]
    assert events[0].data == b"x" * 100
    assert conn.abort_pending()                     # read: still aborted


def test_what_is_not_an_abort_of_the_active_request():
    conn = active(fcgi.record(fcgi.ABORT_REQUEST, 2)    # another request
                  + fcgi.record(fcgi.GET_VALUES, 0, b"")
                  + fcgi.record(fcgi.ABORT_REQUEST, 1)[:5])  # not whole
    assert not conn.abort_pending()
    assert not Connection().abort_pending()             # no request
    broken = active(b"\x07" + bytes(7) + fcgi.record(fcgi.ABORT_REQUEST, 1))
    assert not broken.abort_pending()   # framing lost: next_event() says so


def test_after_the_request_ends_a_late_abort_is_stale():
    conn = active(fcgi.stream(fcgi.STDIN, 1, b""))
    conn.next_event()                                   # BodyEnd
    conn.receive_data(fcgi.record(fcgi.ABORT_REQUEST, 1))
    assert conn.abort_pending()
    conn.end_request()
    assert not conn.abort_pending()
    assert conn.next_event() is NEED_DATA               # dropped quietly
    assert conn.data_to_send() == b""
