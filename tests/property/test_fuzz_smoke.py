"""The fuzz targets of fuzz/ run without atheris: on their seed corpus,
then on a few thousand random inputs (mutated seeds and plain random
bytes), so CI exercises them in a second or two."""

import glob
import logging
import os
import random
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FUZZ = os.path.join(ROOT, "fuzz")
sys.path.insert(0, FUZZ)
try:
    import seeds
    import targets
finally:
    sys.path.remove(FUZZ)

NAMES = ("record_stream", "pairs", "environ")
RANDOM_INPUTS = 3000


def corpus(name):
    """The tracked seed files, plus the seeds as generated now."""
    found = []
    for path in sorted(glob.glob(os.path.join(FUZZ, "seeds", name, "*"))):
        with open(path, "rb") as f:
            found.append(f.read())
    return found + seeds.SEEDS[name]()


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(5)
        if choice == 0 and data:
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif choice == 1:
            data.insert(rng.randint(0, len(data)), rng.randrange(256))
        elif choice == 2 and data:
            del data[rng.randrange(len(data))]
        elif choice == 3 and data:
            start = rng.randrange(len(data))
            data[start:start] = data[start:start + rng.randint(1, 16)]
        elif choice == 4:
            data += bytes(rng.choice(b"\x00\x01\x80\xff./%2eE")
                          for _ in range(rng.randint(1, 8)))
    return bytes(data)


@pytest.mark.parametrize("name", NAMES)
def test_seed_corpus(name):
    inputs = corpus(name)
    assert len(inputs) >= 5
    with targets.quiet_logs():
        for data in inputs:
            getattr(targets, name)(data)


@pytest.mark.parametrize("name", NAMES)
def test_random_inputs(name):
    target = getattr(targets, name)
    rng = random.Random(20261121 + NAMES.index(name))
    pool = corpus(name)
    with targets.quiet_logs():
        for n in range(RANDOM_INPUTS):
            if n % 4 == 0:
                data = bytes(rng.randrange(256)
                             for _ in range(rng.randint(0, 64)))
            else:
                data = mutate(rng, rng.choice(pool))
            target(data)


def test_fuzz_logging_is_silenced_only_while_fuzzing(caplog):
    """Importing the targets silences nothing; quiet_logs() silences
    iiswsgi's warnings inside, and puts every level back after, so a
    later caplog check sees them."""
    names = ("iiswsgi", "iiswsgi.gateway.environ")
    before = [logging.getLogger(n).level for n in names]
    odd = targets.environ_input({"UNENCODED_URL": "/elsewhere/x",
                                 "APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app"})
    caplog.set_level(logging.WARNING)
    with targets.quiet_logs():
        targets.environ(odd)
        assert caplog.records == []
    assert [logging.getLogger(n).level for n in names] == before
    targets.environ(odd)
    assert any("is not under the application path" in r.getMessage()
               and r.name == "iiswsgi.gateway.environ" for r in caplog.records), (
        caplog.records)


def test_targets_assert_something():
    # The environ target checks the split: a wrong environ is caught.
    data = targets.environ_input({"UNENCODED_URL": "/app/x",
                                  "APPL_MD_PATH": "/LM/W3SVC/1/ROOT/app"})
    targets.environ(data)
    real = targets.build_environ
    try:
        targets.build_environ = lambda params, *a: dict(
            params, SCRIPT_NAME="/other", PATH_INFO="/x", QUERY_STRING="",
            REQUEST_METHOD="GET", SERVER_NAME="h", SERVER_PORT="80",
            SERVER_PROTOCOL="HTTP/1.1", **{"wsgi.url_scheme": "http"})
        with pytest.raises(AssertionError):
            targets.environ(data)
    finally:
        targets.build_environ = real
