"""``make bench``: every performance measurement (cold start, round trips, latency, throughput, CPU per request, sweeps,
a price change's fan-out), then one table.

Runs each benchmark script in its own process (each starts what it needs: fresh
interpreters, moto, the local runtime, DynamoDB Local), collects the rows it writes with
``--json`` (``scripts/bench_report.py``) and prints them as one table: area, subject,
measured, target, pass/miss. Each part's rows are kept in ``bench/results/<part>.json``
(committed: the numbers the docs quote), and docs/PERFORMANCE.md gets the table of every
part's latest results, each with its machine and date, and each benchmark's own detailed
tables, between its ``bench:start`` and ``bench:end`` markers (the explanations around
them are written by hand). ``--only`` re-measures some parts and keeps the others' results.

    make bench                         # everything, full size (about 25 minutes on 2 cores)
    make bench BENCH_ARGS=--quick      # smaller runs of each (a few minutes)
    .venv/bin/python scripts/bench.py --only sweeps --only "round trips" --no-doc

Exit status: 1 when a route exceeds its round-trip budget (bench/round_trip_budgets.json:
the budgets are the gate) or a benchmark could not run; other targets missed are shown as ``miss``
in the table and explained in docs/PERFORMANCE.md, not failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from scripts.bench_report import Row, Section  # noqa: E402

DOC = ROOT / "docs" / "PERFORMANCE.md"
RESULTS = ROOT / "bench" / "results"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
GATED = {"round trips"}  # the areas whose misses fail the run (bench/round_trip_budgets.json)


@dataclass(frozen=True)
class Bench:
    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]

    @property
    def kept(self) -> Path:
        """Where its latest results are kept."""
        return RESULTS / (self.name.replace(" ", "-").replace("+", "-") + ".json")


BENCHES = (
    Bench("cold start", "bench_cold_start.py", ("--runs", "7"), ("--runs", "3")),
    Bench("round trips", "bench_round_trips.py", ("--no-fail",), ("--no-fail", "--no-keyed")),
    Bench("latency+throughput", "bench_latency.py", (), ("--samples", "10", "--redemptions", "300")),
    Bench("CPU per request", "bench_cpu.py", ("--repeats", "7"), ("--repeats", "3")),
    Bench("sweeps", "bench_sweeps.py", ("--accounts", "100000"), ("--accounts", "10000")),
    Bench("price fan-out", "bench_fanout.py", ("--owners", "10000"), ("--owners", "1000")),
)


def run(bench: Bench, quick: bool, out: Path) -> Section:
    """One benchmark in a process of its own, its output shown as it comes; its rows, or one
    ``miss`` row saying it did not run."""
    command = [sys.executable, str(ROOT / "scripts" / bench.script), *(bench.quick if quick else bench.full)]
    print(f"\n=== {bench.name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    finished = subprocess.run([*command, "--json", str(out)], cwd=ROOT, check=False)
    seconds = time.monotonic() - started
    print(f"=== {bench.name}: exit {finished.returncode} after {seconds:.0f} s", flush=True)
    if out.exists():
        section = Section.read(out)
        section.machine["run"] = "make bench" + (" BENCH_ARGS=--quick" if quick else "")
        return section
    failed = Row(bench.name, bench.script, f"did not run (exit {finished.returncode})", "runs", "miss")
    return Section(bench.name, [failed])


def latest(bench: Bench, measured: dict[str, Section]) -> Section | None:
    """The part's section of this run, else the one kept from an earlier run, if any."""
    if bench.name in measured:
        return measured[bench.name]
    return Section.read(bench.kept) if bench.kept.exists() else None


def keep(sections: list[Section]) -> None:
    for bench in BENCHES:
        for section in sections:
            if section.section == bench.name and not any(r.measured.startswith("did not run") for r in section.rows):
                section.write(bench.kept)


def table(rows: list[Row]) -> list[str]:
    headers = ("area", "subject", "measured", "target", "result")
    cells = [headers, *((r.area, r.subject, r.measured, r.target, r.result) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def markdown_table(rows: list[Row]) -> list[str]:
    lines = ["| area | subject | measured | target | result |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {r.area} | {r.subject} | {r.measured} | {r.target} | {r.result} |" for r in rows]
    return lines


def tally(rows: list[Row]) -> str:
    by_area: dict[str, list[Row]] = {}
    for row in rows:
        by_area.setdefault(row.area, []).append(row)
    parts = []
    for area, members in by_area.items():
        judged = [r for r in members if r.result != "info"]
        passed = sum(r.result == "pass" for r in judged)
        parts.append(f"{area} {passed}/{len(judged)} pass" if judged else f"{area} (reported)")
    return "; ".join(parts)


def provenance(section: Section) -> str:
    info = section.machine
    return (
        f"{section.section}: `{info.get('run', 'make bench')}` on {info['date']}, "
        f"{info['machine']}, {info['cpus']} CPUs, Python {info['python']}"
    )


def document(sections: list[Section]) -> str:
    rows = [row for section in sections for row in section.rows]
    lines = [
        START,
        "",
        "Each part as last measured (kept in `bench/results/`):",
        "",
        *(f"- {provenance(section)}" for section in sections),
        "",
        f"Summary: {tally(rows)}.",
        "",
        *markdown_table(rows),
        "",
        "### Details",
        "",
    ]
    for section in sections:
        # Each benchmark's own tables, one heading level down.
        lines += [
            line.replace("## ", "#### ", 1) if line.startswith("## ") else line
            for line in section.markdown.splitlines()
        ]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def write_doc(text: str, path: Path = DOC) -> None:
    current = path.read_text(encoding="utf-8")
    if START in current and END in current:
        before, rest = current.split(START, 1)
        after = rest.split(END, 1)[1]
        path.write_text(before + text + after, encoding="utf-8")
    else:
        path.write_text(current.rstrip() + "\n\n## Latest results\n\n" + text + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller runs of every benchmark")
    parser.add_argument("--only", action="append", default=[], help="run only this benchmark (repeatable)")
    parser.add_argument("--no-doc", action="store_true", help="do not write docs/PERFORMANCE.md")
    args = parser.parse_args(argv)
    unknown = set(args.only) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"no such benchmark: {sorted(unknown)}; choose from {[b.name for b in BENCHES]}")
    selected = [b for b in BENCHES if not args.only or b.name in args.only]

    with tempfile.TemporaryDirectory(prefix="bench-") as temp:
        sections = [run(bench, args.quick, Path(temp) / f"{n}.json") for n, bench in enumerate(selected)]
    rows = [row for section in sections for row in section.rows]

    print("\n" + "\n".join(table(rows)))
    print(f"\n{tally(rows)}")
    if not args.no_doc:
        keep(sections)
        measured = {section.section: section for section in sections}
        shown = [found for bench in BENCHES if (found := latest(bench, measured)) is not None]
        write_doc(document(shown))
        print(f"written to {DOC.relative_to(ROOT)} and {RESULTS.relative_to(ROOT)}/")
    failed = [r for r in rows if r.result == "miss" and (r.area in GATED or r.measured.startswith("did not run"))]
    if failed:
        print(f"FAILED: {len(failed)} over a gated target: " + ", ".join(r.subject for r in failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
