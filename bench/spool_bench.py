"""Spooling a request body: iiswsgi's way (a bytearray, then a
TemporaryFile past the threshold, as iiswsgi/gateway/body.py does) against
tempfile.SpooledTemporaryFile, on the pattern wsgi.input sees: a piece of
the body arrives (appended at the end), the application reads the next
block from its position.

    python bench/spool_bench.py [--rounds N]

Prints, for each body size, the best time of N rounds for each way and
their ratio (SpooledTemporaryFile / iiswsgi's; above 1: slower).
"""

import argparse
import os
import tempfile
import time

THRESHOLD = 1 << 20
PIECE = 16 << 10          # what one FastCGI record or read brings
BLOCK = 64 << 10          # what the application asks for at a time

SIZES = [("64 KiB (memory)", 64 << 10), ("1 MiB (memory)", 1 << 20),
         ("8 MiB (spooled)", 8 << 20), ("64 MiB (spooled)", 64 << 20)]


class ByHand:
    """body.py's storage: memory until the threshold, then a file."""

    def __init__(self, threshold):
        self.threshold = threshold
        self.memory = bytearray()
        self.file = None
        self.size = 0

    def append(self, data):
        size = self.size + len(data)
        if self.file is None and size > self.threshold:
            self.file = tempfile.TemporaryFile(prefix="spool-bench-")
            self.file.write(self.memory)
            self.memory = None
        if self.file is None:
            self.memory += data
        else:
            self.file.seek(self.size)
            self.file.write(data)
        self.size = size

    def take(self, start, end):
        if self.file is None:
            return bytes(self.memory[start:end])
        self.file.seek(start)
        return self.file.read(end - start)

    def close(self):
        if self.file is not None:
            self.file.close()


class Spooled:
    """The same on tempfile.SpooledTemporaryFile."""

    def __init__(self, threshold):
        self.file = tempfile.SpooledTemporaryFile(max_size=threshold,
                                                  prefix="spool-bench-")
        self.size = 0

    def append(self, data):
        self.file.seek(self.size)
        self.file.write(data)
        self.size += len(data)

    def take(self, start, end):
        self.file.seek(start)
        return self.file.read(end - start)

    def close(self):
        self.file.close()


def run_once(kind, total, piece):
    store = kind(THRESHOLD)
    position = 0
    read = 0
    began = time.perf_counter()
    while store.size < total:
        store.append(piece)
        # The application reads what has come, a block at a time.
        while position < store.size:
            end = min(store.size, position + BLOCK)
            read += len(store.take(position, end))
            position = end
    elapsed = time.perf_counter() - began
    store.close()
    assert read == store.size
    return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds per case; the best counts (default 5)")
    args = parser.parse_args(argv)
    piece = os.urandom(PIECE)
    print("%-18s %12s %12s %7s" % ("body", "by hand", "Spooled", "ratio"))
    for label, total in SIZES:
        best = {}
        for kind in (ByHand, Spooled):
            best[kind] = min(run_once(kind, total, piece)
                             for _ in range(args.rounds))
        print("%-18s %10.2fms %10.2fms %7.2f" % (
            label, best[ByHand] * 1000, best[Spooled] * 1000,
            best[Spooled] / best[ByHand]))


if __name__ == "__main__":
    main()
