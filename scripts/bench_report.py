"""What every benchmark of ``make bench`` hands to ``scripts/bench.py``: rows of one table.

Each benchmark script, run with ``--json PATH``, writes a :class:`Section`: the machine it
ran on, its rows (area, subject, what was measured, the target, pass/miss/info) and its own
detailed tables as markdown. ``scripts/bench.py`` runs them and prints the one table.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

Result = Literal["pass", "miss", "info"]


def machine() -> dict[str, str]:
    """The platform, CPUs, Python and the UTC time: every table says where and when it was measured."""
    return {
        "machine": platform.platform(),
        "cpus": str(os.cpu_count()),
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


@dataclass(frozen=True)
class Row:
    area: str
    subject: str
    measured: str
    target: str
    result: Result


@dataclass
class Section:
    section: str
    rows: list[Row] = field(default_factory=list)
    markdown: str = ""
    machine: dict[str, str] = field(default_factory=machine)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> Section:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            data["section"],
            [Row(**row) for row in data["rows"]],
            data.get("markdown", ""),
            data.get("machine") or machine(),
        )
