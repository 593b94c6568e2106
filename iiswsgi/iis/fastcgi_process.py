"""A FastCGI process started as IIS's FastCGI module starts it, and one
request at a time exchanged with it: a connected duplex channel (a
socketpair; IIS gives a named pipe) as standard input, standard output and
error closed (IIS gives invalid handles) or, for diagnostics, both written
to a file; a session of its own; FCGI_KEEP_CONN unless told otherwise.

The emulator's pool keeps these processes; test_msdeploy's probe starts
one for a single request.  POSIX only."""

import errno
import logging
import os
import signal
import socket
import threading
import time
from typing import BinaryIO, Mapping, Optional, Sequence, Tuple

from ..errors import IISWSGIError
from ..protocol import fastcgi
from .webconfig import FastCgiApplication

__all__ = ["ProcessFailure", "FastCgiProcess", "ExchangeEvent"]

log = logging.getLogger("iiswsgi.iis.fastcgi_process")

_REQUEST_ID = 1


class ProcessFailure(IISWSGIError):
    """The process failed a request the way IIS reports it: ``message``
    is IIS's wording, ``detail`` what happened, ``code`` the HRESULT IIS
    shows."""

    def __init__(self, message: str, detail: str = "",
                 code: str = "0x80070000", unseen: bool = False) -> None:
        IISWSGIError.__init__(self, message)
        self.message = message
        self.detail = detail
        self.code = code
        # True when the process is known not to have read the request
        # (it had gone before it could): the request may go to another.
        self.unseen = unseen


EXITED = "The FastCGI process exited unexpectedly"
ACTIVITY = "The FastCGI process exceeded configured activity timeout"
REQUEST = "The FastCGI process exceeded configured request timeout"
UNKNOWN = "An unknown FastCGI error occurred"
START = "The FastCGI executable could not be started"


class ExchangeEvent:
    STDOUT = "stdout"
    STDERR = "stderr"
    END = "end"


def _posix_spawn(argv, env, channel, output):
    """Start ``argv`` with ``channel`` as fd 0 and fds 1 and 2 closed (or
    both the file ``output``), in a session of its own (so a terminal's
    Ctrl-C reaches the parent, which stops its children itself).  Like
    IIS, which starts them in its own folder, the process does not start
    in the site's folder: it inherits its parent's."""
    actions = [(os.POSIX_SPAWN_DUP2, channel.fileno(), 0)]
    if output is None:
        actions += [(os.POSIX_SPAWN_CLOSE, 1), (os.POSIX_SPAWN_CLOSE, 2)]
    else:
        actions += [(os.POSIX_SPAWN_DUP2, output.fileno(), 1),
                    (os.POSIX_SPAWN_DUP2, output.fileno(), 2)]
    return os.posix_spawn(argv[0], argv, env, file_actions=actions,
                          setsid=True)


class FastCgiProcess:
    """A FastCGI process for ``settings`` (its fullPath and arguments,
    environmentVariables over ``environ``, its timeouts), started at once;
    ProcessFailure (START) when it cannot be.  ``output`` is a file that
    gets what the process writes to its standard output and error; without
    one, both are closed, as IIS leaves them.  ``argv`` replaces the
    command line read from ``settings``."""

    def __init__(self, settings: FastCgiApplication,
                 environ: Mapping[str, str],
                 output: Optional[BinaryIO] = None,
                 argv: Optional[Sequence[str]] = None) -> None:
        self.settings = settings
        self.requests = 0
        self.last_used = time.monotonic()
        self.pid = None
        self._status = None
        self._wait_lock = threading.Lock()
        argv = list(settings.argv if argv is None else argv)
        env = dict(environ)
        env.update(settings.environment_variables)
        if os.name == "nt":
            raise ProcessFailure(START, "iiswsgi starts FastCGI processes"
                                 " itself on POSIX systems only; on"
                                 " Windows, use IIS or IIS Express")
        if not os.path.isfile(argv[0]) or not os.access(argv[0], os.X_OK):
            raise ProcessFailure(
                START, "fullPath %s is not an executable file" % argv[0],
                "0x80070002")
        self.channel, child = socket.socketpair()
        # The FastCGI state of the channel, which lives as long as it.
        self.connection = fastcgi.ClientConnection()
        try:
            self.pid = _posix_spawn(argv, env, child, output)
        except OSError as error:
            self.channel.close()
            raise ProcessFailure(START, "%s: %s" % (argv[0], error),
                                 "0x%08x" % (0x80070000 | (error.errno or 0))
                                 ) from None
        finally:
            child.close()
        self.started = time.monotonic()
        log.info("started FastCGI process %d: %s", self.pid,
                 " ".join(argv))

    # -- life ---------------------------------------------------------------

    def poll(self) -> Optional[int]:
        """The exit status, or None while it runs."""
        with self._wait_lock:
            if self._status is None and self.pid is not None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:
                    status, pid = 0, self.pid
                if pid:
                    self._status = os.waitstatus_to_exitcode(status)
            return self._status

    def alive(self) -> bool:
        return self.poll() is None

    def usable(self) -> bool:
        """Whether an idle process can take a request: it runs and has not
        closed its end of the channel (as the gateway does when it exits
        after a request)."""
        if not self.alive():
            return False
        try:
            self.channel.setblocking(False)
            try:
                return self.channel.recv(1, socket.MSG_PEEK) != b""
            finally:
                self.channel.setblocking(True)
        except BlockingIOError:
            return True
        except OSError:
            return False

    def wait(self, timeout: Optional[float]) -> Optional[int]:
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
        return self._status

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait(5)
        self._close_channel()

    def stop(self, grace: Optional[float] = None) -> None:
        """End it as IIS does when recycling: the channel is closed (the
        gateway exits on end of file), then, after ``grace`` seconds,
        SIGTERM and finally SIGKILL."""
        if grace is None:
            grace = max(self.settings.signal_before_terminate_seconds, 3)
        self._close_channel()
        if self.pid is not None and self.wait(grace) is None:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(2) is None:
                self.kill()
        log.info("FastCGI process %d ended (exit status %s) after %d"
                 " request(s)", self.pid, self._status, self.requests)

    def _close_channel(self):
        try:
            self.channel.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.channel.close()

    def _exit_detail(self):
        status = self.wait(0.5)
        if status is None:
            return "the process closed its standard input"
        if status < 0:
            return "the process was killed by signal %d" % -status
        return "the process exited with status %d" % status

    # -- one request --------------------------------------------------------

    def exchange(self, params: fastcgi.Params,
                 body: Optional[BinaryIO] = None,
                 content_length: int = 0,
                 keep_conn: bool = True) -> "_Exchange":
        """Run one request; an iterator of (ExchangeEvent, data) ending
        with (END, app_status).  ``params`` is a list of (bytes, bytes)
        (or a mapping); ``body`` a readable file of ``content_length``
        bytes.  Without ``keep_conn`` the process closes the channel
        after its answer.  Raises ProcessFailure (and leaves the process
        dead) as IIS would fail the request."""
        return _Exchange(self, params, body, content_length, keep_conn)


class _Exchange:
    def __init__(self, process, params, body, content_length, keep_conn):
        self.process = process
        self.settings = process.settings
        self.connection = process.connection
        self.done = False
        self.received = 0           # records read of the answer
        self._writer = None
        self._writer_error = None
        start = time.monotonic()
        self._deadline = start + self.settings.request_timeout
        process.requests += 1
        process.last_used = start
        connection = self.connection
        head = [connection.begin_request(_REQUEST_ID, keep_conn=keep_conn),
                connection.send_params(_REQUEST_ID, params)]
        if not content_length:
            head.append(connection.send_stdin(_REQUEST_ID, b""))
        self._send(b"".join(head))
        if content_length:
            self._writer = threading.Thread(
                target=self._write_body, args=(body, content_length),
                name="iiswsgi-fastcgi-stdin", daemon=True)
            self._writer.start()

    def _send(self, data):
        try:
            self.process.channel.sendall(data)
        except OSError as error:
            # The process had gone before it read all the parameters, so
            # its application never saw the request.
            failure = self._fail(EXITED, "writing the request failed (%s);"
                                 " %s" % (error.strerror or error,
                                          self.process._exit_detail()),
                                 "0x8007006d")
            failure.unseen = True
            raise failure

    def _write_body(self, body, remaining):
        send_stdin = self.connection.send_stdin
        channel = self.process.channel
        try:
            while remaining > 0:
                chunk = body.read(min(remaining, fastcgi.MAX_CONTENT))
                if not chunk:
                    break
                remaining -= len(chunk)
                channel.sendall(send_stdin(_REQUEST_ID, chunk))
            channel.sendall(send_stdin(_REQUEST_ID, b""))
        except OSError as error:
            self._writer_error = error

    def _fail(self, message, detail, code="0x80070000"):
        self.done = True
        self.process.kill()
        return ProcessFailure(message, detail, code)

    def _next_event(self):
        """The next FastCGI event of the answer, reading the channel as
        needed within the activity and request timeouts."""
        connection = self.connection
        channel = self.process.channel
        while True:
            try:
                event = connection.next_event()
            except fastcgi.ProtocolError as error:
                if connection.peer_closed:
                    # It died in the middle of a record.
                    raise self._fail(EXITED, "%s; %s" % (
                        self.process._exit_detail(), error),
                        "0x80070109") from None
                raise self._fail(UNKNOWN, str(error)) from None
            if event is fastcgi.CLOSED:
                raise self._fail(EXITED, self.process._exit_detail(),
                                 "0x80070109")
            if event is not fastcgi.NEED_DATA:
                self.received += 1
                return event
            now = time.monotonic()
            remaining = self._deadline - now
            if remaining <= 0:
                raise self._fail(REQUEST, "no answer within requestTimeout"
                                 " (%d s)" % self.settings.request_timeout,
                                 "0x80070102")
            activity = self.settings.activity_timeout
            channel.settimeout(min(activity, remaining))
            try:
                data = channel.recv(262144)
            except socket.timeout:
                if time.monotonic() >= self._deadline:
                    continue
                raise self._fail(ACTIVITY, "no data from the process for"
                                 " activityTimeout (%d s)" % activity,
                                 "0x80070102") from None
            except OSError as error:
                failure = self._fail(EXITED, "reading the answer failed (%s)"
                                     % (error.strerror or error),
                                     "0x80070109")
                # A process that exits with the request unread resets the
                # channel; one that read it and then died just closes it.
                failure.unseen = (error.errno == errno.ECONNRESET
                                  and not self.received)
                raise failure from None
            connection.receive_data(data)

    def __iter__(self):
        return self

    def __next__(self):
        while not self.done:
            event = self._next_event()
            if isinstance(event, fastcgi.Stdout):
                if event.data:
                    return ExchangeEvent.STDOUT, event.data
            elif isinstance(event, fastcgi.Stderr):
                if event.data:
                    return ExchangeEvent.STDERR, event.data
            elif isinstance(event, fastcgi.EndRequest):
                return self._end(event)
            else:
                raise self._fail(UNKNOWN, "an unexpected answer: %r"
                                 % (event,))
        raise StopIteration

    def _end(self, event):
        self.done = True
        if event.protocol_status != fastcgi.REQUEST_COMPLETE:
            raise self._fail(UNKNOWN, "the process refused the request"
                             " (protocol status %d)" % event.protocol_status)
        if self._writer is not None:
            # The process has answered; it reads what is left of the body
            # (or the channel breaks), else it cannot take another request.
            self._writer.join(min(self.settings.activity_timeout, 10))
            if self._writer.is_alive():
                self.process.kill()
        self.process.last_used = time.monotonic()
        return ExchangeEvent.END, event.app_status

    def collect(self) -> Tuple[bytes, bytes, int]:
        """The whole answer: (stdout, stderr, app_status); raises
        ProcessFailure as iterating does."""
        stdout, stderr = bytearray(), bytearray()
        for kind, data in self:
            if kind == ExchangeEvent.STDOUT:
                stdout += data
            elif kind == ExchangeEvent.STDERR:
                stderr += data
            else:
                return bytes(stdout), bytes(stderr), data
        raise ProcessFailure(UNKNOWN, "the answer had already been read")

    def abort(self):
        """The client went away before the end: send FCGI_ABORT_REQUEST as
        IIS does and wait briefly for the process to end the request;
        kill it when it does not, so it is never reused mid-request."""
        if self.done:
            return
        try:
            self.process.channel.sendall(
                self.connection.abort_request(_REQUEST_ID))
            self._deadline = min(self._deadline, time.monotonic() + 5)
            for kind, _ in self:
                if kind == ExchangeEvent.END:
                    return
        except (ProcessFailure, OSError):
            pass
        self.done = True
        self.process.kill()

    @property
    def reusable(self):
        return self.done and self.process.alive() and \
            self._writer_error is None
