"""One Python version everywhere: Lambda's runtime, the layer build, the venv and the tools."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.specifiers import SpecifierSet

from local_runtime.template import resources

# Lambda's Python runtime identifiers (deprecated ones included: a template may still name them).
LAMBDA_PYTHON_RUNTIMES = frozenset(f"python3.{minor}" for minor in range(9, 15))


def assert_lambda_python_runtime(value: object) -> None:
    assert value in LAMBDA_PYTHON_RUNTIMES, f"{value!r} is not a Lambda Python runtime {sorted(LAMBDA_PYTHON_RUNTIMES)}"


def globals_runtime(template: dict[str, Any]) -> str:
    runtime = template.get("Globals", {}).get("Function", {}).get("Runtime")
    assert runtime is not None, "Globals.Function.Runtime is not set"
    return str(runtime)


def test_globals_runtime_is_a_lambda_python_runtime(template: dict[str, Any]) -> None:
    """cfn-lint and ``sam validate`` accept any string here (python3.99 too); Lambda does not."""
    assert_lambda_python_runtime(globals_runtime(template))


@pytest.mark.parametrize("value", ["python3.99", "python3.8", "python3", "python313", "nodejs22.x"])
def test_the_runtime_check_refuses_values_lambda_does_not_know(value: str) -> None:
    with pytest.raises(AssertionError):
        assert_lambda_python_runtime(value)


def test_every_function_and_layer_uses_the_globals_runtime(template: dict[str, Any]) -> None:
    runtime = globals_runtime(template)
    for name, function in resources(template, "AWS::Serverless::Function").items():
        assert function["Properties"].get("Runtime", runtime) == runtime, f"{name} overrides the Globals Runtime"
    for name, layer in resources(template, "AWS::Serverless::LayerVersion").items():
        compatible = layer["Properties"].get("CompatibleRuntimes")
        assert compatible == [runtime], f"{name} CompatibleRuntimes {compatible}, the functions run {runtime}"
        build_method = layer.get("Metadata", {}).get("BuildMethod")
        assert build_method == runtime, f"{name} is built with {build_method}, the functions run {runtime}"


def test_the_runtime_is_the_running_interpreter(template: dict[str, Any]) -> None:
    """The tests, the venv and the local runtime run the Python that Lambda will run."""
    running = f"python{sys.version_info.major}.{sys.version_info.minor}"
    assert globals_runtime(template) == running, f"template runs {globals_runtime(template)}, tests run {running}"


def test_pyproject_targets_the_runtime_version(template: dict[str, Any], repo_root: Path) -> None:
    version = globals_runtime(template).removeprefix("python")
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    requires = pyproject["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{version}.0"), f"requires-python {requires} excludes {version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["tool"]["mypy"]["python_version"] == version
