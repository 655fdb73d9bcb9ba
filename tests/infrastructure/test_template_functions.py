"""Every function's code and sample events are where the template says, and fit its triggers."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from local_runtime.template import ROOT, Resolver, function_setting, load, resources, routes, schedules

FUNCTIONS = resources(load(), "AWS::Serverless::Function")
EVENTS_DIR = ROOT / "events"


def code_folder(function: dict[str, Any]) -> Path:
    return ROOT / str(function["Properties"]["CodeUri"])


def sample_events(logical_id: str) -> list[Path]:
    """``events/<code folder>.json`` and ``events/<code folder>*.json``.

    A file belongs to the function whose code folder name is the longest prefix of its
    name, so ``campaign_codes.json`` is not taken for a ``campaign`` function's sample.
    """
    folders = {name: code_folder(function).name for name, function in FUNCTIONS.items()}
    own = folders[logical_id]
    found = []
    for path in sorted(EVENTS_DIR.glob(f"{own}*.json")):
        longest = max((folder for folder in folders.values() if path.stem.startswith(folder)), key=len)
        if longest == own:
            found.append(path)
    return found


def defined_names(module: ast.Module) -> set[str]:
    names = set()
    for node in module.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(target.id for target in node.targets if isinstance(target, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_code_folder_has_the_handler(logical_id: str) -> None:
    """``Handler: app.lambda_handler`` (the function's own, else Globals') means ``<CodeUri>/app.py``
    defines ``lambda_handler``."""
    function = FUNCTIONS[logical_id]
    module_name, _, handler = str(function_setting(load(), logical_id, "Handler")).rpartition(".")
    assert module_name == "app", f"{logical_id}: the handler module is app.py by convention, not {module_name}"
    source = code_folder(function) / "app.py"
    assert source.is_file(), f"{logical_id}: {source.relative_to(ROOT)} does not exist"
    tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    assert handler in defined_names(tree), f"{logical_id}: {source.relative_to(ROOT)} defines no {handler}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_has_sample_events_that_fit_its_triggers(logical_id: str, template: dict[str, Any]) -> None:
    """HttpApi samples carry one of the function's ``routeKey`` s, schedule samples are EventBridge
    ``Scheduled Event`` s; a function with both kinds of trigger may have samples of either."""
    folder = code_folder(FUNCTIONS[logical_id]).name
    samples = sample_events(logical_id)
    assert samples, f"{logical_id}: no sample event events/{folder}.json (or events/{folder}*.json)"
    route_keys = {route.route_key for route in routes(template) if route.function == logical_id}
    scheduled = any(schedule.function == logical_id for schedule in schedules(template, Resolver(template)))
    for path in samples:
        try:
            event = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            pytest.fail(f"{path.relative_to(ROOT)} is not valid JSON: {error}")
        assert isinstance(event, dict), f"{path.relative_to(ROOT)} is not a JSON object"
        if not route_keys and not scheduled:
            continue
        is_route = event.get("routeKey") in route_keys
        is_schedule = scheduled and event.get("detail-type") == "Scheduled Event"
        expected = [f"routeKey in {sorted(route_keys)}"] if route_keys else []
        expected += ["detail-type 'Scheduled Event'"] if scheduled else []
        assert is_route or is_schedule, (
            f"{path.relative_to(ROOT)}: expected {' or '.join(expected)}; "
            f"got routeKey={event.get('routeKey')!r}, detail-type={event.get('detail-type')!r}"
        )
