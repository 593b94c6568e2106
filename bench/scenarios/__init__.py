"""The benchmarks, one module each, in the order ``bench/run`` runs them.

Each module has ``NAME`` (its ``--only`` value), ``settings(run)`` (one
line for the report saying what it runs), and ``measure(run)`` (runs it,
printing progress, and returns its results).  Those compared across
contenders also have ``summarize(results)`` (medians over rounds) and
``comparisons(summary)`` (the ratios they report).
"""

from scenarios import (big_site, coldstart, iis, memory, nginx, package,
                       streaming)

# The order of the run (the report has its own).
ALL = (memory, package, iis, nginx, streaming, coldstart, big_site)
