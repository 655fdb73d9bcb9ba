"""Every rule ID the code and the tests name exists in RULES.md (scripts/rules.py does the reading).

RULES.md lives in the shared spec beside the clone (CI checks ../shared out there), so a
missing file fails here instead of skipping: without it nothing is checked.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_rules_module() -> ModuleType:
    path = ROOT / "scripts" / "rules.py"
    spec = importlib.util.spec_from_file_location("rules_script", path)
    assert spec is not None, f"cannot load {path}"
    assert spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    # dataclasses look the module up in sys.modules while the class is made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


rules_script = _load_rules_module()


@pytest.fixture(scope="module")
def rules() -> dict[str, str]:
    path = rules_script.rules_md_path(ROOT)
    assert path.is_file(), (
        f"RULES.md not found at {path}: check out the shared spec beside the clone (../shared) "
        "or set RULES_MD to its path"
    )
    parsed: dict[str, str] = rules_script.parse_rules(path.read_text(encoding="utf-8"))
    assert parsed, f"no rules (lines '- R-X-n title') found in {path}"
    return parsed


def test_code_and_tests_name_only_rule_ids_that_exist(rules: dict[str, str]) -> None:
    unknown = rules_script.unknown_mentions(rules, rules_script.trace_repo(ROOT))
    report = "\n".join(f"  {rule_id}: {', '.join(places)}" for rule_id, places in unknown.items())
    assert not unknown, f"rule IDs that RULES.md does not define:\n{report}"


def test_every_rule_has_a_title(rules: dict[str, str]) -> None:
    untitled = [rule_id for rule_id, title in rules.items() if not title.strip()]
    assert not untitled, f"rules without text in RULES.md: {untitled}"


def test_ranges_and_lists_name_every_rule_in_them() -> None:
    assert rules_script.expand_mentions("see R-VOUCH-6..8 and R-PAY-5") == [
        "R-VOUCH-6",
        "R-VOUCH-7",
        "R-VOUCH-8",
        "R-PAY-5",
    ]
    assert rules_script.expand_mentions("billing-run: R-VOUCH-6/8/10") == ["R-VOUCH-6", "R-VOUCH-8", "R-VOUCH-10"]
    assert rules_script.expand_mentions("R-PAY-14 is not R-PAY-1") == ["R-PAY-14", "R-PAY-1"]


def test_test_names_name_rules_with_underscores_in_any_case() -> None:
    assert rules_script.name_mentions("test_second_attempt_R_VOUCH_2_is_rejected") == ["R-VOUCH-2"]
    assert rules_script.name_mentions("test_r_pay_14_and_r_gdpr_10") == ["R-PAY-14", "R-GDPR-10"]
    assert rules_script.name_mentions("test_user_2_is_added") == []


def test_a_rule_runs_over_its_indented_lines_and_its_title_is_the_first_sentence() -> None:
    text = (
        "## 7. Payments\n"
        "- R-PAY-2 Every plan starts with a free trial\n"
        "  of up to 14 days. More text.\n"
        "- R-PAY-3 A trial that ends (e.g. today); it is reactivated.\n"
        "\n"
        "  not part of a rule\n"
    )
    assert rules_script.parse_rules(text) == {
        "R-PAY-2": "Every plan starts with a free trial of up to 14 days.",
        "R-PAY-3": "A trial that ends (e.g. today); it is reactivated.",
    }
