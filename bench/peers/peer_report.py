"""The comparison's report: medians over runs, the table, ours against the best peer per cell, and the
sections it writes into docs/benchmarks.md and the README (between marker comments, replaced each time).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from peer_loads import CELLS

DOCS_MARKERS = ("<!-- peers-table:begin -->", "<!-- peers-table:end -->")
README_MARKERS = ("<!-- peers-ratio:begin -->", "<!-- peers-ratio:end -->")
FIGURES = ("requests_per_s", "images_per_s", "server_cpu_us_per_request")


def _median(values: list[float]) -> float:
    values = [v for v in values if v == v]  # NaN-free
    return statistics.median(values) if values else float("nan")


def summarize(runs: list[dict[str, Any]], cell_keys: list[str]) -> list[dict[str, Any]]:
    """One row per (cores, cell, server) measured: medians over the runs that measured it."""
    rows = []
    core_counts = sorted({run["cores"] for run in runs})
    for cores in core_counts:
        same = [run for run in runs if run["cores"] == cores]
        keys = list(dict.fromkeys(key for run in same for key in run["servers"]))
        for cell_key in cell_keys:
            for key in keys:
                measured = [run["servers"][key] for run in same
                            if cell_key in run["servers"].get(key, {}).get("cells", {})]
                if not measured:
                    continue
                cells = [entry["cells"][cell_key] for entry in measured]
                rows.append({
                    "cores": cores, "cell": cell_key, "server": key, "name": measured[0]["name"],
                    "runs": len(cells),
                    **{name: _median([c[name] for c in cells]) for name in FIGURES},
                    "p50_ms": _median([c["latency_ms"]["p50"] for c in cells]),
                    "p99_ms": _median([c["latency_ms"]["p99"] for c in cells]),
                    "errors": sum(c["errors"] for c in cells),
                    "rss_mb": _median([entry.get("rss_mb", float("nan")) for entry in measured]),
                    "processes": measured[0].get("processes", 0),
                })
    return rows


def ratios(runs: list[dict[str, Any]], cell_keys: list[str]) -> list[dict[str, Any]]:
    """Ours against the best peer in each cell, taken inside each run (the machine is shared), medians
    over runs: requests/s ours / best peer's, and server CPU per request ours / that peer's. TF Serving's
    gRPC (ours only) is compared with the peers' V2 gRPC of the same batch and concurrency. When the best
    peer differs from run to run, ``best_peer`` names each (most often best first)."""
    out = []
    for cores in sorted({run["cores"] for run in runs}):
        for cell_key in cell_keys:
            peer_key = CELLS[cell_key].compared_on
            throughput, cpu, best_names = [], [], []
            for run in (r for r in runs if r["cores"] == cores):
                ours = run["servers"].get("ours", {}).get("cells", {}).get(cell_key)
                peers = [(entry["cells"][peer_key], entry["name"]) for key, entry in run["servers"].items()
                         if key != "ours" and peer_key in entry.get("cells", {})]
                if ours is None or not peers:
                    continue
                best, name = max(peers, key=lambda pair: pair[0]["requests_per_s"])
                if best["requests_per_s"] <= 0:
                    continue
                throughput.append(ours["requests_per_s"] / best["requests_per_s"])
                cpu.append(ours["server_cpu_us_per_request"] / best["server_cpu_us_per_request"])
                best_names.append(name)
            if throughput:
                out.append({"cores": cores, "cell": cell_key, "throughput_ratio": _median(throughput),
                            "cpu_ratio": _median(cpu), "runs": len(throughput),
                            "best_peer": " / ".join(sorted(dict.fromkeys(best_names), key=best_names.count,
                                                           reverse=True))})
    return out


def _number(value: float, digits: int = 0) -> str:
    if value != value:
        return "-"
    return f"{value:,.{digits}f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| cell | server | cores | req/s | images/s | p50 ms | p99 ms | server CPU us/req | RSS MB "
             "(processes) | errors |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {CELLS[row['cell']].label} | {row['name']} | {row['cores']} "
            f"| {_number(row['requests_per_s'])} "
            f"| {_number(row['images_per_s'])} | {_number(row['p50_ms'], 2)} | {_number(row['p99_ms'], 2)} "
            f"| {_number(row['server_cpu_us_per_request'])} | {_number(row['rss_mb'])} ({row['processes']}) "
            f"| {row['errors']} |")
    return "\n".join(lines) + "\n"


def ratio_table(entries: list[dict[str, Any]], compact: bool = False) -> str:
    if compact:
        lines = ["| cell (cores) | ours / best peer, req/s | best peer |", "|---|---|---|"]
        lines += [f"| {CELLS[e['cell']].label} ({e['cores']}) | {e['throughput_ratio']:.2f} "
                  f"| {e['best_peer']} |" for e in entries]
    else:
        lines = ["| cell | cores | best peer | ours / best peer, req/s | ours / that peer, server CPU per "
                 "request |", "|---|---|---|---|---|"]
        lines += [f"| {CELLS[e['cell']].label} | {e['cores']} | {e['best_peer']} "
                  f"| {e['throughput_ratio']:.2f} | {e['cpu_ratio']:.2f} |" for e in entries]
    return "\n".join(lines) + "\n"


def report(rows: list[dict[str, Any]], entries: list[dict[str, Any]], settings: dict[str, Any]) -> str:
    """The Markdown the run prints and writes into docs/benchmarks.md."""
    skipped = "".join(f"- {name} not measured: {reason}\n" for name, reason in settings["skipped"].items())
    cores = ", ".join(str(count) for count in settings["cores"])
    return (
        f"`{settings['command']}`, {settings['date']}; {settings['runs']} run(s) of "
        f"{settings['duration_s']:g} s per cell (medians); servers on {cores} of the machine's "
        f"{settings['machine_cores']} cores (1-minute load average {settings['load_average']}), load clients "
        f"{settings['client_cores']}; model "
        f"`{settings['model']}` in onnxruntime {settings['onnxruntime']} in every server. Versions: "
        f"{settings['versions']}. {settings.get('note', '')}\n\n{skipped}{chr(10) if skipped else ''}"
        f"{table(rows)}\nOurs against the best peer in each cell (ratios inside each run, medians):\n\n"
        f"{ratio_table(entries)}"
    )


def replace_between(path: Path, markers: tuple[str, str], content: str) -> None:
    """Put ``content`` between the two marker lines of ``path`` (they must be there)."""
    text = path.read_text()
    begin, end = markers
    if begin not in text or end not in text:
        raise RuntimeError(f"{path} has no {begin} ... {end} section to write the figures into")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{content.rstrip()}\n{end}{tail}")
