"""The benchmark harness: what every scenario uses.

* :mod:`harness.processes`: starting and ending the contenders (each in its
  own process group), their environment, their logs, /proc figures.
* :mod:`harness.sockets`: free ports, waiting for a socket to accept.
* :mod:`harness.pipe`: a gateway started as IIS starts it (a socketpair
  as standard input) and the FastCGI driver that talks to it.
* :mod:`harness.nginx`: nginx in front of a Unix-socket backend.
* :mod:`harness.wrk`: one wrk run and what it printed.
* :mod:`harness.rounds`: contenders alternated over rounds.
* :mod:`harness.stats`: percentiles, medians, spreads, ratios.
* :mod:`harness.facts`: the machine, the versions, the load, the source.

This module holds what they share: the paths, the error, and
:class:`Run`, what a scenario is given to run with.
"""

import os
from dataclasses import dataclass
from typing import Optional

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(BENCH)
WORK = os.path.join(BENCH, ".work")

# What every contender is asked for (bench_apps.hello answers it).
REQUEST_PATH = "/hello"


class BenchError(Exception):
    """A contender or a tool failed: the message names it and shows the
    end of its log."""


@dataclass
class Run:
    """One run's settings and tools, as ``bench/run``'s options made them."""

    python: str             # the virtualenv's Python (the contenders')
    venv_bin: str           # its bin folder (iiswsgi, uwsgi)
    scratch: str            # this run's folder under bench/.work
    quick: bool
    rounds: int
    requests: int           # timed IIS-mode requests per contender, round
    warmup: int             # IIS-mode warm-up requests
    seconds: int            # one wrk measurement
    wrk_warmup: int         # seconds of wrk before measuring
    nginx: Optional[str] = None
    wrk: Optional[str] = None
