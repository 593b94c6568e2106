"""bench/report.py: the results tables, and their writer into bench/README.md
(the section between the results markers, and nothing else)."""

import importlib
import os
import shutil
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "bench")
# bench/'s top-level modules, importable with bench/ on sys.path (as
# bench/bench.py runs).
_BENCH_MODULES = ("report", "harness", "scenarios", "bench_apps")


def _is_bench_module(name):
    return name.split(".")[0] in _BENCH_MODULES


@pytest.fixture
def report(monkeypatch):
    for name in [n for n in sys.modules if _is_bench_module(n)]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.syspath_prepend(BENCH)
    yield importlib.import_module("report")
    # Leave no bench module behind for other tests' imports.
    for name in [n for n in sys.modules if _is_bench_module(n)]:
        del sys.modules[name]


def _iis_round(rps, p50, p99, rss, cpu):
    return {"requests": 20000, "rps": rps, "p50_us": p50, "p99_us": p99,
            "rss_kib": rss, "driver_cpu_us": cpu}


def _wrk(rps, p50, p99, errors=0):
    return {"rps": rps, "p50_us": p50, "p99_us": p99, "errors": errors}


def _results():
    return {
        "info": {
            "date": "2026-11-21 20:39 UTC", "command": "bench/run",
            "machine": {"nproc": 2, "cpu": "AMD EPYC", "memory": "24 GiB",
                        "kernel": "6.1", "python": "3.11.7 (CPython)"},
            "versions": {"iiswsgi": "1.0", "wrk": "4.1"},
            "settings": "IIS mode 3 rounds", "load_start": "0.1 0.2 0.3",
            "load_end": "0.4 0.5 0.6", "seconds": 193,
        },
        "iis": {
            "iiswsgi": [_iis_round(40000.0, 25.0, 31.0, 16384, 3.0),
                        _iis_round(42000.0, 24.0, 30.0, 16384, 3.5),
                        _iis_round(30000.0, 26.0, 35.0, 16590, 4.0)],
            "wfastcgi": [_iis_round(20000.0, 50.0, 62.0, 13312, 8.5)] * 3,
        },
        "nginx": {
            "iiswsgi": [
                {"c1": _wrk(30000.0, 29.0, 47.0, errors=1),
                 "c4": _wrk(28000.0, 125.0, 544.0), "rss_kib": 20480},
                {"c1": _wrk(32000.0, 30.0, 50.0),
                 "c4": _wrk(28000.0, 125.0, 544.0), "rss_kib": 20480},
                {"c1": _wrk(34000.0, 28.0, 45.0, errors=2),
                 "c4": _wrk(28000.0, 125.0, 544.0), "rss_kib": 20480},
            ],
            "flup": [{"c1": _wrk(16000.0, 58.0, 94.0),
                      "c4": _wrk(7000.0, 500.0, 1088.0),
                      "rss_kib": 10240}] * 3,
        },
        "memory": {"upload_mib": 200, "upload_growth_kib": 1126.4,
                   "stream_mib": 1024,
                   "stream_rss_kib": [16896, 16896, 17408]},
        "package": {"files": 5000, "seconds": {
            "bdist_msdeploy": 0.42, "bdist_msdeploy --skip-install": 0.35,
            "zipfile -c": 0.21}},
    }


# What those results make: medians over rounds, min-max of requests/s,
# errors summed, ratios iiswsgi / other of the medians.
EXPECTED_ROWS = [
    "| iiswsgi | 40,000 | 30,000–42,000 | 25.0 | 31.0 | 16.0 MiB | 3.5 |",
    "| wfastcgi | 20,000 | 20,000–20,000 | 50.0 | 62.0 | 13.0 MiB | 8.5 |",
    "| iiswsgi | 1 | 32,000 | 30,000–34,000 | 29 | 47 | 3 |",
    "| iiswsgi | 4 | 28,000 | 28,000–28,000 | 125 | 544 | 0 |",
    "| flup | 1 | 16,000 | 16,000–16,000 | 58 | 94 | 0 |",
    "| flup | 4 | 7,000 | 7,000–7,000 | 500 | 1,088 | 0 |",
    "| peak RSS growth for a 200 MiB upload read in 64 KiB blocks"
    " | 1.1 MiB |",
    "| RSS while streaming 1024 MiB (at 0%, then every 10%)"
    " | 16.5, 16.5, 17.0 MiB |",
    "| RSS growth over the stream | 0.5 MiB |",
    "| `bdist_msdeploy` | 0.42 | 2.00 |",
    "| `bdist_msdeploy --skip-install` | 0.35 | 1.67 |",
    "| `zipfile -c` | 0.21 | 1.00 |",
    "| IIS mode: iiswsgi / wfastcgi | 2.00 | 0.50 | 0.50 |",
    "| nginx 1 conn.: iiswsgi / flup | 2.00 | 0.50 | 0.50 |",
    "| nginx 4 conn.: iiswsgi / flup | 4.00 | 0.25 | 0.50 |",
]


def _markdown(report, results):
    return report.report_markdown(results, report.summarize(results))


def test_tables_hold_the_medians_and_ratios(report):
    lines = _markdown(report, _results()).splitlines()
    for row in EXPECTED_ROWS:
        assert row in lines
    assert lines[0] == "Recorded by `bench/run` on 2026-11-21 20:39 UTC."
    assert "- Versions: iiswsgi 1.0, wrk 4.1." in lines
    # No contender that did not run is compared.
    assert not [line for line in lines if "minimal" in line or "uwsgi"
                in line]
    # The order: IIS, nginx, memory, packaging, then the ratios.
    headings = [line for line in lines if line.startswith("### ")]
    assert [h.split(":")[0].split(" (")[0] for h in headings] == [
        "### IIS mode", "### nginx + wrk", "### Memory", "### Packaging",
        "### Ratios"]


def test_one_benchmark_alone_has_only_its_tables(report):
    results = _results()
    results["iis"] = {}
    results["nginx"] = {}
    results["package"] = {}
    markdown = _markdown(report, results)
    assert "### Memory" in markdown
    for absent in ("### IIS", "### nginx", "### Packaging", "### Ratios"):
        assert absent not in markdown


def test_rewrite_replaces_only_the_results_section(report, tmp_path):
    readme = tmp_path / "README.md"
    shutil.copyfile(os.path.join(BENCH, "README.md"), readme)
    original = readme.read_text(encoding="utf-8")
    start = original.index(report.RESULTS_START) + len(report.RESULTS_START)
    end = original.index(report.RESULTS_END)
    markdown = _markdown(report, _results())

    report.rewrite_readme(markdown, str(readme))

    text = readme.read_text(encoding="utf-8")
    assert text.startswith(original[:start])
    assert text.endswith(original[end:])
    assert text[start:len(text) - len(original[end:])] == \
        "\n" + markdown + "\n"
    # A second run with the same results writes the same file.
    report.rewrite_readme(markdown, str(readme))
    assert readme.read_text(encoding="utf-8") == text


def test_readme_without_markers_is_refused_and_left_alone(report, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\n" + report.RESULTS_END + "\n"
                      + report.RESULTS_START + "\n", encoding="utf-8")
    before = readme.read_text(encoding="utf-8")
    with pytest.raises(report.BenchError) as caught:
        report.rewrite_readme("new", str(readme))
    assert str(readme) in str(caught.value)
    assert report.RESULTS_START in str(caught.value)
    assert readme.read_text(encoding="utf-8") == before


def test_syscalls_and_the_worst_and_best_of_several_runs(report):
    first, last = _results(), _results()
    last["syscalls"] = {"iiswsgi": {"read": 1.0, "write": 1.0, "total": 2.0},
                        "minimal": {"mmap": 1.0, "read": 1.0, "total": 2.0}}
    # The first run's iiswsgi was half as fast in IIS mode.
    for figures in first["iis"]["iiswsgi"]:
        figures["rps"] /= 2
    summaries = [report.summarize(first), report.summarize(last)]
    lines = report.report_markdown(last, summaries[-1],
                                   summaries).splitlines()
    assert "| iiswsgi | 2 | read 1, write 1 |" in lines
    assert "| minimal | 2 | mmap 1, read 1 |" in lines
    assert "### Throughput ratios over 2 runs: worst and best" in lines
    assert "| IIS mode: iiswsgi / wfastcgi | 1.00 | 2.00 |" in lines
    assert "| nginx 1 conn.: iiswsgi / flup | 2.00 | 2.00 |" in lines
    assert "| nginx: iiswsgi 4 conn. / 1 conn. | 0.88 | 0.88 |" in lines
    assert lines[0].startswith("Recorded by")
    assert "the tables are the last run's" in lines[2]


def _streaming_and_coldstart(response, upload, cold):
    """A run of the streaming and cold start benchmarks alone: MiB/s of
    iiswsgi's response and upload against a copy at 1,000 MiB/s (seconds
    per 1,000 MiB transfer), and cold start seconds of iiswsgi against
    wfastcgi's 0.2 and the import's 0.15."""
    results = _results()
    for name in ("iis", "nginx", "memory", "package"):
        results[name] = {}
    results["streaming"] = {"mib": 1000, "seconds": {
        "iiswsgi response": [1000.0 / response] * 3,
        "copy response": [1.0, 1.0, 2.0],
        "iiswsgi upload": [1000.0 / upload] * 3,
        "copy upload": [1.0] * 3,
        "copy upload, spooled": [2.0] * 3,
    }}
    results["coldstart"] = {"iiswsgi": [cold] * 3, "wfastcgi": [0.2] * 3,
                            "import": [0.15, 0.15, 0.3]}
    return results


def test_streaming_and_cold_start_tables_and_targets(report):
    results = _streaming_and_coldstart(800.0, 500.0, 0.21)
    lines = _markdown(report, results).splitlines()
    for row in [
            "| iiswsgi response | 800 | 800–800 |",
            "| copy response | 1,000 | 500–1,000 |",
            "| copy upload, spooled | 500 | 500–500 |",
            "The upload over the spooled copy (not a target): 1.00.",
            "| iiswsgi | 210.0 | 210.0–210.0 |",
            '| `python -c "import flask_app"` | 150.0 | 150.0–300.0 |',
            "| streaming response: iiswsgi / socketpair copy | 0.80"
            " | at least 0.7 | yes |",
            "| streaming upload: iiswsgi / socketpair copy | 0.50"
            " | at least 0.7 | no |",
            "| cold start: iiswsgi / wfastcgi (time) | 1.05 | at most 1"
            " | no |",
            "| cold start: iiswsgi − import (ms) | 60.00 | at most 50"
            " | no |"]:
        assert row in lines
    assert "### IIS" not in "\n".join(lines)


def test_worst_of_several_runs_is_the_lowest_rate_and_the_longest_start(
        report):
    runs = [_streaming_and_coldstart(800.0, 500.0, 0.21),
            _streaming_and_coldstart(600.0, 700.0, 0.18)]
    summaries = [report.summarize(r) for r in runs]
    lines = report.report_markdown(runs[-1], summaries[-1],
                                   summaries).splitlines()
    for row in [
            "| streaming response: iiswsgi / socketpair copy | 0.60 | 0.80"
            " | at least 0.7 | no |",
            "| streaming upload: iiswsgi / socketpair copy | 0.50 | 0.70"
            " | at least 0.7 | no |",
            "| cold start: iiswsgi / wfastcgi (time) | 1.05 | 0.90"
            " | at most 1 | no |",
            "| cold start: iiswsgi − import (ms) | 60.00 | 30.00"
            " | at most 50 | no |"]:
        assert row in lines


def _big_site_round(site, files, p99):
    return {"files": files, "rps": 8000.0, "p50_us": 100.0, "p99_us": p99,
            "max_us": 5000.0, "watcher": "change notifications"}


def test_the_big_site_and_the_targets_over_several_runs(report):
    """The big site's table (medians over rounds), and the targets table:
    each target's worst (highest) and best ratio over the runs, the big
    site's p99 ratio being the median of the paired rounds' ratios."""
    runs = []
    for big_p99, seconds in (((330.0, 220.0, 400.0), 0.9),
                             ((300.0, 200.0, 240.0), 1.3)):
        results = _results()
        results["iis"], results["nginx"] = {}, {}
        results["big_site"] = {
            "small site": [_big_site_round("small site", 10, p)
                           for p in (300.0, 200.0, 400.0)],
            "big site": [_big_site_round("big site", 10000, p)
                         for p in big_p99]}
        results["package"] = {"files": 5000, "seconds": {
            "bdist_msdeploy --no-wheelhouse": seconds,
            "iiswsgi package --no-wheelhouse": 1.0, "zipfile -c": 1.0}}
        runs.append(results)
    summaries = [report.summarize(r) for r in runs]
    lines = report.report_markdown(runs[-1], summaries[-1],
                                   summaries).splitlines()
    assert "| big site | 10,000 | change notifications | 8,000 | 100.0" \
        " | 240.0 | 200.0–300.0 |" in lines
    assert "| small site | 10 | change notifications | 8,000 | 100.0" \
        " | 300.0 | 200.0–400.0 |" in lines
    assert "### Other targets over 2 runs: worst and best" in lines
    # Rounds' ratios 1.1, 1.1, 1.0 (median 1.1), then 1.0, 1.0, 0.6.
    assert "| big site / small site: p99 | 1.10 | 1.00 | at most 1.1" \
        " | yes |" in lines
    assert "| packaging: bdist_msdeploy --no-wheelhouse / zipfile -c" \
        " | 1.30 | 0.90 | at most 1.5 | yes |" in lines
    assert "| packaging: iiswsgi package --no-wheelhouse / zipfile -c" \
        " | 1.00 | 1.00 | at most 1.5 | yes |" in lines
