"""The channels' writes and pending() on real sockets: a web server that
went away is ConnectionLost, any other failure stays what it was."""

import errno
import os
import signal
import socket

import pytest

from iiswsgi.gateway.transport import (ConnectionLost, PipeChannel,
                                       SocketChannel)

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX descriptors")


@pytest.fixture
def no_sigpipe():
    old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGPIPE, old)


def _gone_pair():
    ours, theirs = socket.socketpair()
    theirs.close()
    return ours


def test_a_pipe_write_after_the_web_server_left_is_connection_lost(
        no_sigpipe):
    ours = _gone_pair()
    channel = PipeChannel(ours.fileno())
    try:
        with pytest.raises(ConnectionLost) as caught:
            channel.write(b"x" * 100000)
        assert "the web server closed the pipe" in str(caught.value)
        assert caught.value.errno == errno.EPIPE
        assert isinstance(caught.value.__cause__, OSError)
    finally:
        channel.close()
        ours.close()


def test_a_socket_write_after_the_web_server_left_is_connection_lost(
        no_sigpipe):
    channel = SocketChannel(_gone_pair())
    try:
        with pytest.raises(ConnectionLost) as caught:
            channel.write(b"x" * 100000)
        assert "the web server closed the connection" in str(caught.value)
    finally:
        channel.close()


def test_any_other_write_failure_is_raised_as_it_is():
    channel = SocketChannel(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    try:
        # Never connected: ENOTCONN would count as gone, but a closed
        # socket's EBADF does not.
        channel.sock.close()
        with pytest.raises(OSError) as caught:
            channel.write(b"x")
        assert not isinstance(caught.value, ConnectionLost)
        assert caught.value.errno == errno.EBADF
    finally:
        channel.close()


def test_pending_says_whether_a_read_would_wait():
    ours, theirs = socket.socketpair()
    pipe = PipeChannel(ours.fileno())
    sock = SocketChannel(ours)
    try:
        assert not pipe.pending() and not sock.pending()
        theirs.sendall(b"x")
        assert pipe.pending() and sock.pending()
    finally:
        pipe.close()
        ours.close()
        theirs.close()


def test_pending_on_a_closed_socket_is_false_not_an_error():
    ours, theirs = socket.socketpair()
    channel = SocketChannel(ours)
    channel.close()
    try:
        assert channel.pending() is False
    finally:
        theirs.close()


@pytest.mark.skipif(os.name == "nt", reason="descriptor numbers are POSIX's")
def test_waiting_on_a_connection_above_fd_1023():
    # The listener waits a moment on a connection for its next request:
    # select() cannot watch a descriptor numbered 1024 or more.
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1100:
        pytest.skip("the descriptor limit is below 1100")
    if soft != resource.RLIM_INFINITY and soft < 1100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1100, hard))
    ours, theirs = socket.socketpair()
    high = os.dup2(ours.fileno(), 1050)
    ours.close()
    channel = SocketChannel(socket.socket(fileno=high))
    try:
        assert channel.wait_readable(0) is False
        theirs.sendall(b"x")
        assert channel.wait_readable(5) is True
    finally:
        channel.close()
        theirs.close()
        if soft != resource.RLIM_INFINITY and soft < 1100:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
