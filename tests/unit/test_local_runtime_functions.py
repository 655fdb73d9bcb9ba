"""Loading handlers by file path: every module is app.py, and siblings must not collide."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from local_runtime.functions import Functions, FunctionSpec, load_handler


def write_function(root: Path, folder: str, answer: str) -> None:
    code = root / "functions" / folder
    code.mkdir(parents=True)
    (code / "models.py").write_text(f"ANSWER = {answer!r}\n", encoding="utf-8")
    (code / "app.py").write_text(
        "import models\n\ndef lambda_handler(event, context):\n"
        "    return {'answer': models.ANSWER, 'remaining': context.get_remaining_time_in_millis()}\n",
        encoding="utf-8",
    )


def spec(logical_id: str, folder: str) -> FunctionSpec:
    return FunctionSpec(logical_id, f"functions/{folder}/", "app.lambda_handler", 10, 128, f"local-{logical_id}")


def test_two_functions_with_the_same_module_names_stay_apart(tmp_path: Path) -> None:
    write_function(tmp_path, "one", "first")
    write_function(tmp_path, "two", "second")
    load_handler(spec("OneFunction", "one"), tmp_path)
    load_handler(spec("TwoFunction", "two"), tmp_path)
    assert sys.modules["fn_OneFunction"].models.ANSWER == "first"
    assert sys.modules["fn_TwoFunction"].models.ANSWER == "second"
    # Nothing of theirs is left where the next function (or the runtime) would find it.
    assert "models" not in sys.modules
    assert str(tmp_path / "functions" / "one") not in sys.path


def test_invoke_passes_a_context_with_the_functions_timeout(tmp_path: Path) -> None:
    write_function(tmp_path, "three", "third")
    template = {
        "Globals": {"Function": {"Timeout": 10}},
        "Resources": {
            "ThreeFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/three/", "Handler": "app.lambda_handler", "Timeout": 300},
            }
        },
    }
    result = Functions(template, "local", tmp_path).invoke("ThreeFunction", {})
    assert result["answer"] == "third"
    assert 290_000 < result["remaining"] <= 300_000


def test_missing_handler_attribute_is_an_import_error(tmp_path: Path) -> None:
    write_function(tmp_path, "four", "fourth")
    with pytest.raises(ImportError, match="no callable"):
        load_handler(FunctionSpec("FourFunction", "functions/four/", "app.other", 10, 128, "local-Four"), tmp_path)


def test_concurrent_invocations_run_at_once_each_in_its_own_environment(tmp_path: Path) -> None:
    """As in Lambda: concurrent requests are not serialised, and no module serves two at once."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    code = tmp_path / "functions" / "five"
    code.mkdir(parents=True)
    (code / "app.py").write_text(
        "import threading\nbusy = threading.Lock()\n\n"
        "def lambda_handler(event, context):\n"
        "    assert busy.acquire(blocking=False), 'two invocations in one environment'\n"
        "    try:\n"
        "        event['barrier'].wait(timeout=10)\n"
        "        return id(busy)\n"
        "    finally:\n"
        "        busy.release()\n",
        encoding="utf-8",
    )
    template = {
        "Resources": {
            "FiveFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "functions/five/", "Handler": "app.lambda_handler"},
            }
        }
    }
    functions = Functions(template, "local", tmp_path, max_concurrency=8)
    barrier = threading.Barrier(4)  # breaks (and the test fails) unless all four run at once
    with ThreadPoolExecutor(max_workers=4) as pool:
        environments = list(pool.map(lambda _: functions.invoke("FiveFunction", {"barrier": barrier}), range(4)))
    assert len(set(environments)) == 4
    # A later request reuses a warm environment instead of starting a fifth.
    assert functions.invoke("FiveFunction", {"barrier": threading.Barrier(1)}) in environments


def test_the_runtimes_concurrency_is_an_option_of_at_least_one_environment() -> None:
    from local_runtime.__main__ import parse_args

    assert parse_args([]).max_concurrency == 16
    assert parse_args(["--max-concurrency", "32"]).max_concurrency == 32
    for bad in ("0", "-1", "many"):
        with pytest.raises(SystemExit):
            parse_args(["--max-concurrency", bad])
