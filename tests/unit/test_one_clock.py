"""Time comes from one injectable clock: no deployed code reads the system time elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOYED = [ROOT / "layers" / "shared" / "python" / "lifecycle", ROOT / "functions"]
CLOCK = ROOT / "layers" / "shared" / "python" / "lifecycle" / "core" / "clock.py"
SYSTEM_TIME = re.compile(r"\bdatetime\.(now|utcnow|today)\(|\bdate\.today\(|\btime\.time\(")


def test_only_the_clock_reads_the_system_time() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder in DEPLOYED
        for path in sorted(folder.rglob("*.py"))
        if path != CLOCK
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if SYSTEM_TIME.search(line)
    ]
    assert offenders == [], "use lifecycle.core.clock.now():\n" + "\n".join(offenders)
