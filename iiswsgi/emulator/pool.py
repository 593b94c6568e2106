"""The process pool of one ``<fastCgi><application>``, as IIS keeps it:
at most maxInstances processes, one request each at a time; requests wait
in a queue of queueLength (503 beyond); a process is recycled after
instanceMaxRequests requests or idleTimeout seconds idle, and replaced
when it exits."""

import logging
import threading
import time
from typing import Dict, List, Mapping, Optional

from ..errors import IISWSGIError
from ..iis.fastcgi_process import FastCgiProcess
from ..iis.webconfig import FastCgiApplication

__all__ = ["Pool", "Pools", "QueueFull"]

log = logging.getLogger("iiswsgi.emulator.pool")


class QueueFull(IISWSGIError):
    """The pool's queue is full (IIS answers 503)."""


class Pool:
    """The processes of the ``<fastCgi><application>`` ``settings``,
    started with ``environ``."""

    def __init__(self, settings: FastCgiApplication,
                 environ: Mapping[str, str]) -> None:
        self.settings = settings
        self.environ = environ
        self._idle = []             # most recently used last
        self._count = 0             # processes running or starting
        self._waiting = 0
        self._closed = False
        self._condition = threading.Condition()
        self._stopping = []
        self._all = set()
        self.started = 0

    @property
    def size(self) -> int:
        with self._condition:
            return self._count

    def acquire(self) -> FastCgiProcess:
        """A process for one request: an idle one, a new one when the pool
        has room, or the first one released.  Raises QueueFull, or
        ProcessFailure when a process cannot be started."""
        with self._condition:
            while True:
                if self._closed:
                    raise QueueFull("the emulator is stopping")
                while self._idle:
                    process = self._idle.pop()
                    if process.usable():
                        return process
                    self._count -= 1
                    log.info("FastCGI process %d had exited (status %s);"
                             " starting another", process.pid,
                             process.poll())
                    process.kill()
                if self._count < self.settings.max_instances:
                    self._count += 1
                    break
                if self._waiting >= self.settings.queue_length:
                    raise QueueFull(
                        "%d request(s) are already waiting for one of the %d"
                        " process(es) (queueLength)" % (
                            self._waiting, self.settings.max_instances))
                self._waiting += 1
                try:
                    self._condition.wait()
                finally:
                    self._waiting -= 1
        try:
            process = FastCgiProcess(self.settings, self.environ)
        except BaseException:
            with self._condition:
                self._count -= 1
                self._condition.notify()
            raise
        with self._condition:
            self.started += 1
            self._all.add(process)
        return process

    def release(self, process: FastCgiProcess, reusable: bool) -> None:
        """Give ``process`` back after a request; it is stopped instead
        when it cannot be reused or has served instanceMaxRequests."""
        recycle = (not reusable or not process.alive()
                   or process.requests >= self.settings.instance_max_requests)
        with self._condition:
            if recycle or self._closed:
                self._count -= 1
            else:
                self._idle.append(process)
            self._condition.notify()
        if recycle or self._closed:
            if process.alive() and process.requests >= \
                    self.settings.instance_max_requests:
                log.info("FastCGI process %d served instanceMaxRequests (%d);"
                         " recycling it", process.pid, process.requests)
            self._stop_later(process)

    def _stop_later(self, process, grace=None):
        def stop():
            try:
                process.stop(grace)
            finally:
                with self._condition:
                    self._all.discard(process)

        thread = threading.Thread(target=stop, name="iiswsgi-emulate-stop",
                                  daemon=True)
        thread.start()
        with self._condition:
            self._stopping = [t for t in self._stopping if t.is_alive()]
            self._stopping.append(thread)

    def reap_idle(self, now: Optional[float] = None) -> None:
        """Stop processes idle for idleTimeout seconds."""
        now = time.monotonic() if now is None else now
        expired = []
        with self._condition:
            for process in list(self._idle):
                if now - process.last_used >= self.settings.idle_timeout:
                    self._idle.remove(process)
                    self._count -= 1
                    expired.append(process)
            if expired:
                self._condition.notify_all()
        for process in expired:
            log.info("FastCGI process %d idle for idleTimeout (%d s);"
                     " stopping it", process.pid, self.settings.idle_timeout)
            self._stop_later(process)

    def close(self, grace: float = 2) -> None:
        """Refuse new requests and end every process within about
        ``grace`` seconds: idle ones are asked to go (their channel is
        closed), and whatever still runs then is killed, busy or not."""
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._condition.notify_all()
        for process in idle:
            self._stop_later(process, grace)
        deadline = time.monotonic() + grace
        with self._condition:
            stopping = list(self._stopping)
        for thread in stopping:
            thread.join(max(0, deadline - time.monotonic()))
        with self._condition:
            left = list(self._all)
        for process in left:
            process.kill()


class Pools:
    """A Pool for each ``<fastCgi><application>`` (by its key), made when
    first needed, with a thread stopping processes idle for their
    idleTimeout.  ``environ``: the environment processes start with."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = dict(environ)
        self.environ.setdefault("APP_POOL_ID", "DefaultAppPool")
        self._pools: Dict[str, Pool] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._reaper = threading.Thread(target=self._reap,
                                        name="iiswsgi-emulate-reaper",
                                        daemon=True)
        self._reaper.start()

    def pool(self, settings: FastCgiApplication) -> Pool:
        """The Pool of ``settings``."""
        with self._lock:
            pool = self._pools.get(settings.key)
            if pool is None:
                pool = self._pools[settings.key] = Pool(
                    settings, dict(self.environ))
            return pool

    def all(self) -> List[Pool]:
        with self._lock:
            return list(self._pools.values())

    def _reap(self):
        while not self._stopped.wait(1):
            for pool in self.all():
                pool.reap_idle()

    def close(self) -> None:
        """Stop every process of every pool."""
        self._stopped.set()
        for pool in self.all():
            pool.close()
