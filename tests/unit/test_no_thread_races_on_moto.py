"""No unit test races threads over moto.

moto's in-process DynamoDB does not make a conditional write atomic across threads: a race
on it proves nothing and fails at random (two "once-only" downloads both got the bytes).
A race over tables belongs in tests/integration, on DynamoDB Local. A unit module may use
threads only if it touches no moto-backed fixture or handler (tests/unit/conftest.py's
``tables`` and what builds on it, ``mock_aws``, ``tests.support``'s handler calls).
"""

from __future__ import annotations

import ast
from pathlib import Path

UNIT = Path(__file__).resolve().parent

THREAD_MODULES = {"threading", "concurrent.futures", "_thread"}
# tests/unit/conftest.py's fixtures over moto's tables (and test modules' own names for them).
MOTO_FIXTURES = {"tables", "world", "outbox", "provider_ledger"}
# tests.support's helpers that run a handler or a schedule over whatever tables are set up.
HANDLER_CALLS = {"call", "run_schedule", "pay", "session"}


def uses_threads(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(alias.name in THREAD_MODULES for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module in THREAD_MODULES:
            return True
    return False


def touches_moto(tree: ast.AST) -> list[str]:
    """What in the module reaches moto: fixture parameters, usefixtures names, mock_aws, handler calls."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            found |= {f"fixture {arg.arg}" for arg in node.args.args if arg.arg in MOTO_FIXTURES}
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "usefixtures":
            found |= {
                f"usefixtures {arg.value}"
                for arg in node.args
                if isinstance(arg, ast.Constant) and arg.value in MOTO_FIXTURES
            }
        elif isinstance(node, ast.Name) and node.id == "mock_aws":
            found.add("mock_aws")
        elif isinstance(node, ast.ImportFrom) and node.module == "moto":
            found.add("moto")
        elif isinstance(node, ast.ImportFrom) and node.module == "tests.support":
            found |= {f"tests.support.{alias.name}" for alias in node.names if alias.name in HANDLER_CALLS}
    return sorted(found)


def offenders(sources: dict[str, str]) -> dict[str, list[str]]:
    found = {}
    for name, source in sources.items():
        tree = ast.parse(source)
        if uses_threads(tree) and (moto := touches_moto(tree)):
            found[name] = moto
    return found


def test_no_unit_module_races_threads_over_moto() -> None:
    sources = {path.name: path.read_text(encoding="utf-8") for path in sorted(UNIT.glob("*.py"))}
    assert offenders(sources) == {}, "move these races to tests/integration (DynamoDB Local)"


def test_the_guard_sees_a_race_over_moto_and_lets_a_pure_one_be() -> None:
    race = (
        "import threading\nimport pytest\n"
        "pytestmark = pytest.mark.usefixtures('world')\n"
        "def test_x() -> None:\n    threading.Thread(target=print).start()\n"
    )
    pooled = "from concurrent.futures import ThreadPoolExecutor\ndef test_y(tables): ...\n"
    handler = "import threading\nfrom tests.support import call, ok\n"
    pure = "import threading\ndef test_z(tmp_path): ...\n"
    assert offenders({"race": race, "pooled": pooled, "handler": handler, "pure": pure}) == {
        "race": ["usefixtures world"],
        "pooled": ["fixture tables"],
        "handler": ["tests.support.call"],
    }
