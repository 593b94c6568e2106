"""The process pool of one <fastCgi><application>
(iiswsgi.emulator.pool), with real gateway processes."""

import os
import sys
import time

from iiswsgi.emulator.config import FastCgiSettings
from iiswsgi.emulator.pool import Pool, QueueFull
from iiswsgi.errors import IISWSGIError


def _gateway_settings(**values):
    return FastCgiSettings(sys.executable, "-m iiswsgi", **values)


def test_pool_reuse_and_idle_timeout():
    # Real gateway processes: started on acquire, never sent a request.
    pool = Pool(_gateway_settings(max_instances=1, queue_length=1,
                                  idle_timeout=10), dict(os.environ))
    try:
        process = pool.acquire()
        assert pool.size == 1 and process.alive()
        pool.release(process, reusable=True)
        assert pool.acquire() is process       # reused while idle
        pool.release(process, reusable=True)
        pool.reap_idle(now=time.monotonic() + 5)
        assert pool.size == 1
        pool.reap_idle(now=time.monotonic() + 11)
        assert pool.size == 0
        assert process.wait(10) is not None    # stopped: it saw end of file
    finally:
        pool.close()


def test_queue_full_is_an_iiswsgi_error():
    assert issubclass(QueueFull, IISWSGIError)
