"""atheris fuzzer for targets.pairs (see fuzz/README.md)."""

import os
import sys

import atheris

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

with atheris.instrument_imports(include=["iiswsgi", "targets"]):
    import targets


def main():
    atheris.Setup(sys.argv, targets.pairs)
    with targets.quiet_logs():
        atheris.Fuzz()


if __name__ == "__main__":
    main()
