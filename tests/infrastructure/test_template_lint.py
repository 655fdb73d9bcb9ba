"""cfn-lint and ``sam validate --lint`` accept the template (both run offline, ~2 s each)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        ["cfn-lint", "template.yaml"],
        ["sam", "validate", "--lint", "--template", "template.yaml", "--region", "eu-central-1"],
    ],
    ids=["cfn-lint", "sam-validate"],
)
def test_template_passes_the_linter(command: list[str], repo_root: Path) -> None:
    executable = BIN / command[0]
    assert executable.is_file(), f"{executable} is missing: install requirements-dev.txt into the venv"
    environment = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "eu-central-1"}
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own venv's tools
        [str(executable), *command[1:]],
        cwd=repo_root,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
