"""The report of a run: its results as Markdown tables, and those tables
written between the results markers of bench/README.md."""

import os
from typing import Dict, List, Optional

from harness import BENCH, BenchError
from scenarios import big_site, coldstart, iis, nginx, package, streaming

README = os.path.join(BENCH, "README.md")
RESULTS_START = "<!-- results:start -->"
RESULTS_END = "<!-- results:end -->"


def fmt(value: Optional[float], digits: int = 0) -> str:
    """``value`` with thousands separators and ``digits`` decimals."""
    if value is None:
        return "n/a"
    return "{:,.{}f}".format(value, digits)


def fmt_ratio(value: Optional[float]) -> str:
    return "n/a" if value is None else "%.2f" % value


def summarize(results: Dict[str, object]) -> Dict[str, dict]:
    """The medians over rounds of the benchmarks run in rounds."""
    return {"iis": iis.summarize(results["iis"]),
            "nginx": nginx.summarize(results["nginx"]),
            "streaming": streaming.summarize(results.get("streaming") or {}),
            "coldstart": coldstart.summarize(results.get("coldstart") or {}),
            "big_site": big_site.summarize(results.get("big_site") or {}),
            "package": (package.comparisons(results["package"])
                        if results.get("package") else [])}


def _header(info: Dict[str, object]) -> List[str]:
    machine = info["machine"]
    lines = [
        "Recorded by `%s` on %s." % (info["command"], info["date"]),
        "",
        "- Machine: %s cores, %s, %s RAM, Linux %s; Python %s."
        % (machine["nproc"], machine["cpu"], machine["memory"] or "?",
           machine["kernel"], machine["python"]),
        "- Versions: " + ", ".join("%s %s" % (k, v) for k, v in
                                   info["versions"].items()) + ".",
        "- Settings: %s." % info["settings"],
        "- Load average (1, 5, 15 min) at the start: %s; at the end: %s;"
        " the run took %s s." % (info["load_start"], info.get("load_end"),
                                 info.get("seconds")),
    ]
    if info.get("source_changed"):
        lines.append("- **Warning: iiswsgi's source changed during this"
                     " run**; its figures mix versions.")
    lines.append("")
    return lines


def _iis_table(summary: Dict[str, dict]) -> List[str]:
    lines = [
        "### IIS mode: sequential keep-conn requests over the stdin pipe",
        "",
        "| contender | requests/s (median) | min–max over rounds"
        " | p50 µs | p99 µs | RSS after | driver CPU µs/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in summary.items():
        low, high = entry["rps_range"]
        lines.append("| %s | %s | %s–%s | %s | %s | %s MiB | %s |" % (
            name, fmt(entry["rps"]), fmt(low), fmt(high),
            fmt(entry["p50_us"], 1), fmt(entry["p99_us"], 1),
            fmt((entry["rss_kib"] or 0) / 1024.0, 1),
            fmt(entry["driver_cpu_us"], 1)))
    lines.append("")
    return lines


def _nginx_table(summary: Dict[str, dict]) -> List[str]:
    lines = [
        "### nginx + wrk: `fastcgi_pass unix:` with keep-alive, wrk -t1",
        "",
        "| contender | connections | requests/s (median) |"
        " min–max over rounds | p50 µs | p99 µs | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, entry in summary.items():
        for key, figures in entry.items():
            if key == "rss_kib":
                continue
            low, high = figures["rps_range"]
            lines.append("| %s | %s | %s | %s–%s | %s | %s | %d |" % (
                name, key[1:], fmt(figures["rps"]), fmt(low), fmt(high),
                fmt(figures["p50_us"], 0), fmt(figures["p99_us"], 0),
                figures["errors"]))
    lines.append("")
    return lines


def _memory_table(memory: Dict[str, object]) -> List[str]:
    samples = memory["stream_rss_kib"]
    return [
        "### Memory: iiswsgi in IIS mode",
        "",
        "| measure | figure |",
        "| --- | ---: |",
        "| peak RSS growth for a %d MiB upload read in 64 KiB blocks"
        " | %.1f MiB |" % (memory["upload_mib"],
                           memory["upload_growth_kib"] / 1024.0),
        "| RSS while streaming %d MiB (at 0%%, then every 10%%) | %s MiB |"
        % (memory["stream_mib"], ", ".join(
            "%.1f" % (kib / 1024.0) for kib in samples)),
        "| RSS growth over the stream | %.1f MiB |"
        % ((max(samples) - samples[0]) / 1024.0),
        "",
    ]


def _package_table(results: Dict[str, object]) -> List[str]:
    lines = [
        "### Packaging: an application of %d files" % results["files"],
        "",
        "| command | seconds (median) | / %s |" % package.BASELINE,
        "| --- | ---: | ---: |",
    ]
    for name, seconds, over_base in package.comparisons(results):
        lines.append("| `%s` | %.2f | %s |" % (name, seconds,
                                              fmt_ratio(over_base)))
    lines.append("")
    return lines


def _big_site_table(summary: Dict[str, dict]) -> List[str]:
    lines = [
        "### Big site: the restart watcher over many files, IIS mode",
        "",
        "| site | .py files | watched by | requests/s (median) | p50 µs"
        " | p99 µs | p99 min–max over rounds |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, figures in summary.items():
        low, high = figures["p99_range"]
        lines.append("| %s | %s | %s | %s | %s | %s | %s–%s |" % (
            name, fmt(figures["files"]), figures["watcher"],
            fmt(figures["rps"]), fmt(figures["p50_us"], 1),
            fmt(figures["p99_us"], 1), fmt(low, 1), fmt(high, 1)))
    lines.append("")
    return lines


def _syscalls_table(syscalls: Dict[str, Dict[str, float]]) -> List[str]:
    lines = [
        "### System calls per IIS-mode request (`strace -c -f`)",
        "",
        "Counted over a run of N requests less one of fewer (start-up and"
        " exit cancel out); calls under 0.05 per request are left out."
        " These do not depend on the machine's load.",
        "",
        "| contender | total | calls per request |",
        "| --- | ---: | --- |",
    ]
    for name, figures in syscalls.items():
        lines.append("| %s | %g | %s |" % (name, figures.get("total", 0),
                                          ", ".join(
            "%s %g" % (call, n) for call, n in figures.items()
            if call != "total")))
    lines.append("")
    return lines


def _streaming_table(summary: Dict[str, dict]) -> List[str]:
    mib = next(iter(summary.values()))["mib"]
    lines = [
        "### Streaming: %d MiB through IIS mode and over a plain socketpair"
        % mib,
        "",
        "| transfer | MiB/s (median) | min–max over rounds |",
        "| --- | ---: | ---: |",
    ]
    for name, entry in summary.items():
        low, high = entry["range"]
        lines.append("| %s | %s | %s–%s |" % (
            name, fmt(entry["mib_s"]), fmt(low), fmt(high)))
    spooled = streaming.spool_comparison(summary)
    if spooled is not None:
        lines += ["", "The upload over the spooled copy (not a target): %s."
                  % fmt_ratio(spooled)]
    lines.append("")
    return lines


def _coldstart_table(summary: Dict[str, dict]) -> List[str]:
    rounds = next(iter(summary.values()))["rounds"]
    lines = [
        "### Cold start: process start to the end of a Flask app's first"
        " response (%d rounds)" % rounds,
        "",
        "| contender | ms (median) | min–max over rounds |",
        "| --- | ---: | ---: |",
    ]
    for name, entry in summary.items():
        low, high = entry["range"]
        label = ('`python -c "import flask_app"`' if name == "import"
                 else name)
        lines.append("| %s | %s | %s–%s |" % (
            label, fmt(entry["ms"], 1), fmt(low, 1), fmt(high, 1)))
    lines.append("")
    return lines


def _targets(summary: Dict[str, dict]) -> List[tuple]:
    """(label, figure, limit, higher is better) of each figure with a
    target besides the throughput ratios: streaming (at least 0.7 of the
    copy), cold start (at most wfastcgi's time, at most 50 ms over the
    import), the big site's p99 (at most 1.1 of the small site's) and
    packaging (at most 1.5 of ``zipfile -c``)."""
    rows = [(label, value, 0.7, True) for label, value in
            streaming.comparisons(summary.get("streaming") or {})]
    for label, value, target in coldstart.comparisons(
            summary.get("coldstart") or {}):
        rows.append((label, value, float(target.split()[-1]), False))
    for label, _, _, p99 in big_site.comparisons(summary.get("big_site")
                                                 or {}):
        rows.append(("%s: p99" % label, p99, 1.1, False))
    for name, _, over_base in summary.get("package") or []:
        if name != package.BASELINE and package.TARGETS.get(name):
            rows.append(("packaging: %s / %s" % (name, package.BASELINE),
                         over_base, package.TARGETS[name], False))
    return rows


def _target_text(limit: float, higher: bool) -> str:
    return "%s %s" % ("at least" if higher else "at most",
                      ("%g" % limit))


def _holds(value: float, limit: float, higher: bool) -> bool:
    return value >= limit if higher else value <= limit


def _targets_table(summary: Dict[str, dict]) -> List[str]:
    lines = [
        "### Other targets (medians of this run)",
        "",
        "| comparison | figure | target | holds |",
        "| --- | ---: | --- | --- |",
    ]
    for label, value, limit, higher in _targets(summary):
        lines.append("| %s | %s | %s | %s |" % (
            label, fmt_ratio(value), _target_text(limit, higher),
            "" if value is None else
            ("yes" if _holds(value, limit, higher) else "no")))
    lines.append("")
    return lines


def _targets_runs_table(summaries: List[Dict[str, dict]]) -> List[str]:
    """Each target's worst and best run; it holds when its worst run
    meets it (worst: the lowest of a figure where higher is better, the
    highest of one where lower is)."""
    by_label: Dict[str, list] = {}
    for summary in summaries:
        for label, value, limit, higher in _targets(summary):
            if value is not None:
                by_label.setdefault(label, [limit, higher, []])[2].append(
                    value)
    if not by_label:
        return []
    lines = [
        "### Other targets over %d runs: worst and best" % len(summaries),
        "",
        "| comparison | worst | best | target | holds |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for label, (limit, higher, values) in by_label.items():
        worst, best = ((min(values), max(values)) if higher
                       else (max(values), min(values)))
        lines.append("| %s | %s | %s | %s | %s |" % (
            label, fmt_ratio(worst), fmt_ratio(best),
            _target_text(limit, higher),
            "yes" if _holds(worst, limit, higher) else "no"))
    lines.append("")
    return lines


def _comparisons(summary: Dict[str, dict]) -> list:
    return (iis.comparisons(summary["iis"])
            + nginx.comparisons(summary["nginx"]))


def _runs_table(summaries: List[Dict[str, dict]]) -> List[str]:
    """The throughput ratio of each comparison: worst and best over the
    runs (a target holds when its worst run meets it)."""
    by_label: Dict[str, List[float]] = {}
    for summary in summaries:
        for label, throughput, _, _ in _comparisons(summary):
            if throughput is not None:
                by_label.setdefault(label, []).append(throughput)
    lines = [
        "### Throughput ratios over %d runs: worst and best" % len(summaries),
        "",
        "| comparison | worst | best |",
        "| --- | ---: | ---: |",
    ]
    for label, values in by_label.items():
        lines.append("| %s | %s | %s |" % (label, fmt_ratio(min(values)),
                                          fmt_ratio(max(values))))
    lines.append("")
    return lines


def _ratios_table(summary: Dict[str, dict]) -> List[str]:
    lines = [
        "### Ratios (iiswsgi / other, medians of this run)",
        "",
        "Throughput: above 1 means iiswsgi is faster. Latency: below 1"
        " means iiswsgi is faster.",
        "",
        "| comparison | throughput | p50 | p99 |",
        "| --- | ---: | ---: | ---: |",
    ]
    rows = _comparisons(summary)
    for label, throughput, p50, p99 in rows:
        lines.append("| %s | %s | %s | %s |" % (
            label, fmt_ratio(throughput), fmt_ratio(p50), fmt_ratio(p99)))
    lines.append("")
    return lines


def report_markdown(results: Dict[str, object],
                    summary: Dict[str, dict],
                    summaries: Optional[List[Dict[str, dict]]] = None
                    ) -> str:
    """The whole report: the run's facts, a table per benchmark run, and
    the ratios of the benchmarks that compare contenders.  With
    ``summaries`` of several runs (``results`` and ``summary`` being the
    last one's), also the worst and best ratios over them."""
    lines = _header(results["info"])
    if summaries and len(summaries) > 1:
        lines[1:1] = ["", "%d full runs, one after the other: the tables are"
                      " the last run's; the last table gives each ratio's"
                      " worst and best run." % len(summaries)]
    if summary["iis"]:
        lines += _iis_table(summary["iis"])
    if summary["nginx"]:
        lines += _nginx_table(summary["nginx"])
    if results.get("memory"):
        lines += _memory_table(results["memory"])
    if results.get("package"):
        lines += _package_table(results["package"])
    if summary.get("big_site"):
        lines += _big_site_table(summary["big_site"])
    if results.get("syscalls"):
        lines += _syscalls_table(results["syscalls"])
    if summary["iis"] or summary["nginx"]:
        lines += _ratios_table(summary)
        if summaries and len(summaries) > 1:
            lines += _runs_table(summaries)
    if summary.get("streaming"):
        lines += _streaming_table(summary["streaming"])
    if summary.get("coldstart"):
        lines += _coldstart_table(summary["coldstart"])
    if _targets(summary):
        lines += _targets_table(summary)
        if summaries and len(summaries) > 1:
            lines += _targets_runs_table(summaries)
    return "\n".join(lines)


def rewrite_readme(markdown: str, path: str = README) -> None:
    """Put ``markdown`` between RESULTS_START and RESULTS_END in ``path``,
    leaving everything else in it as it is."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.find(RESULTS_START)
    end = text.find(RESULTS_END)
    if start < 0 or end < start:
        raise BenchError("%s has no %s ... %s section: put the two marker"
                         " lines where the results go"
                         % (path, RESULTS_START, RESULTS_END))
    text = (text[:start + len(RESULTS_START)] + "\n" + markdown + "\n"
            + text[end:])
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
