"""``make bench``'s report (scripts/bench.py): the table of every part's latest results goes
between the markers of docs/PERFORMANCE.md and nowhere else, and a part not measured again
keeps its last results. The benchmarks themselves are measurements, not tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import bench
from scripts.bench_report import Row, Section


def _section(name: str, *results: str) -> Section:
    rows = [Row(name, f"subject {n}", f"{n} ms", "<= 1", result) for n, result in enumerate(results)]  # type: ignore[arg-type]
    return Section(
        name,
        rows,
        f"## {name} in detail\n\n| a |\n| --- |\n",
        {"machine": "m", "cpus": "2", "python": "3.13", "date": "d"},
    )


def test_the_report_replaces_only_what_is_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text(f"# Performance\n\nby hand\n\n{bench.START}\nold table\n{bench.END}\n\n## Why\n\nby hand too\n")

    bench.write_doc(bench.document([_section("round trips", "pass", "miss"), _section("sweeps", "info")]), doc)

    text = doc.read_text()
    assert text.startswith("# Performance\n\nby hand\n\n")
    assert text.endswith("\n\n## Why\n\nby hand too\n")
    assert "old table" not in text
    assert "Summary: round trips 1/2 pass; sweeps (reported)." in text
    assert "| round trips | subject 1 | 1 ms | <= 1 | miss |" in text
    assert "#### round trips in detail" in text  # each part's own tables, one level down


def test_a_part_not_measured_again_keeps_its_last_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    cold, trips = bench.BENCHES[0], bench.BENCHES[1]
    bench.keep([_section(cold.name, "pass")])

    shown = [bench.latest(b, {trips.name: _section(trips.name, "miss")}) for b in (cold, trips)]

    assert [s.section if s else None for s in shown] == [cold.name, trips.name]
    assert shown[0] is not None
    assert shown[0].rows[0].result == "pass"


def test_a_part_that_did_not_run_is_not_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    failed = Section("sweeps", [Row("sweeps", "bench_sweeps.py", "did not run (exit 1)", "runs", "miss")])
    bench.keep([failed])
    assert not list(tmp_path.iterdir())
