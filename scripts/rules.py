"""Rule traceability: for every rule in RULES.md, where the code names it and which tests do.

    python scripts/rules.py [--strict] [--markdown]

Exit codes: 0 the table was printed; 1 with ``--strict`` when a rule has no test;
2 when code or tests name a rule ID that RULES.md does not define; 3 when RULES.md
is missing. RULES.md is ``<repo>/../shared/spec/RULES.md`` unless ``RULES_MD`` says
otherwise.

Mentions are ``R-X-n``, ranges ``R-X-a..b`` (every ID from a to b) and lists
``R-X-a/b/c``. A test names a rule in its function name (``r_vouch_2``, any case), its
docstring, a comment inside it, or the docstring of its ``Test…`` class.
"""

from __future__ import annotations

import argparse
import ast
import io
import os
import re
import sys
import tokenize
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = ("layers", "functions", "local_runtime")
CODE_FILES = ("template.yaml",)
CODE_SUFFIXES = {".py", ".yaml", ".yml"}
TEST_DIR = "tests"

RULE_LINE = re.compile(r"^- (R-[A-Z]+-\d+)\s+(.*)$")
MENTION = re.compile(r"\bR-([A-Z]+)-(\d+)((?:/\d+)*)(?:\.\.(\d+))?")
NAME_MENTION = re.compile(r"(?<![A-Za-z0-9])r_([a-z]+)_(\d+)(?![0-9])", re.IGNORECASE)


@dataclass
class Trace:
    """What the scan found: code lines and tests per rule ID, and every mention's location."""

    code: dict[str, list[tuple[str, int]]] = field(default_factory=lambda: defaultdict(list))
    tests: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    mentions: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def rules_md_path(root: Path = ROOT) -> Path:
    override = os.environ.get("RULES_MD")
    return Path(override) if override else root.parent / "shared" / "spec" / "RULES.md"


def parse_rules(text: str) -> dict[str, str]:
    """Rule ID → title (the rule's first sentence), in document order.

    A rule is a bullet ``- R-X-n text`` whose text may continue on indented lines.
    """
    bodies: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = RULE_LINE.match(line)
        if match:
            rule_id, first = match.groups()
            if rule_id in bodies:
                raise ValueError(f"{rule_id} is defined twice in RULES.md")
            current = bodies[rule_id] = [first]
        elif current is not None and line.startswith("  ") and line.strip():
            current.append(line.strip())
        else:
            current = None
    return {rule_id: _first_sentence(" ".join(words)) for rule_id, words in bodies.items()}


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?(?<!e\.g)(?<!i\.e)\.)(\s|$)", text)
    return match.group(1) if match else text


def expand_mentions(text: str) -> list[str]:
    """Every rule ID a piece of text names, with ranges and lists expanded."""
    found: list[str] = []
    for group, first, listed, last in MENTION.findall(text):
        numbers = [int(first)] + [int(n) for n in listed.split("/") if n]
        if last:
            numbers = list(range(int(first), int(last) + 1))
        found.extend(f"R-{group}-{n}" for n in numbers)
    return found


def name_mentions(name: str) -> list[str]:
    """Rule IDs written into an identifier: ``test_second_redemption_r_vouch_2``."""
    return [f"R-{group.upper()}-{int(number)}" for group, number in NAME_MENTION.findall(name)]


def _files(root: Path, folders: tuple[str, ...], suffixes: set[str]) -> list[Path]:
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            hidden = any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(root).parts)
            if path.is_file() and path.suffix in suffixes and not hidden:
                found.append(path)
    return found


def scan_code(root: Path, trace: Trace) -> None:
    paths = _files(root, CODE_DIRS, CODE_SUFFIXES) + [root / name for name in CODE_FILES if (root / name).is_file()]
    for path in paths:
        relative = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for rule_id in expand_mentions(line):
                trace.code[rule_id].append((relative, number))
                trace.mentions[rule_id].append(f"{relative}:{number}")


def _comments(source: str) -> dict[int, str]:
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    return {token.start[0]: token.string for token in tokens if token.type == tokenize.COMMENT}


def _test_functions(tree: ast.Module) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef, str]]:
    """(pytest node suffix, test function, docstring of its Test class or "")."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            found.append((node.name, node, ""))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_doc = ast.get_docstring(node) or ""
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name.startswith("test"):
                    found.append((f"{node.name}::{item.name}", item, class_doc))
    return found


def scan_tests(root: Path, trace: Trace) -> None:
    for path in _files(root, (TEST_DIR,), {".py"}):
        relative = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8")
        for number, line in enumerate(source.splitlines(), start=1):
            for rule_id in expand_mentions(line):
                trace.mentions[rule_id].append(f"{relative}:{number}")
        tree = ast.parse(source, filename=relative)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                for rule_id in name_mentions(node.name):
                    trace.mentions[rule_id].append(f"{relative}:{node.lineno}")
        comments = _comments(source)
        for node_id, function, class_doc in _test_functions(tree):
            lines = range(function.lineno, (function.end_lineno or function.lineno) + 1)
            text = " ".join([ast.get_docstring(function) or "", class_doc, *(comments.get(n, "") for n in lines)])
            for rule_id in name_mentions(function.name) + expand_mentions(text):
                trace.tests[rule_id].add(f"{relative}::{node_id}")


def trace_repo(root: Path = ROOT) -> Trace:
    trace = Trace()
    scan_code(root, trace)
    scan_tests(root, trace)
    return trace


def unknown_mentions(rules: dict[str, str], trace: Trace) -> dict[str, list[str]]:
    """Rule IDs named in code or tests that RULES.md does not define → where they are named."""
    return {rule_id: places for rule_id, places in sorted(trace.mentions.items()) if rule_id not in rules}


def compact_locations(locations: list[tuple[str, int]]) -> list[str]:
    """``[("a.py", 3), ("a.py", 9)]`` → ``["a.py:3,9"]``."""
    by_file: dict[str, list[int]] = defaultdict(list)
    for path, line in locations:
        if line not in by_file[path]:
            by_file[path].append(line)
    return [f"{path}:{','.join(map(str, lines))}" for path, lines in by_file.items()]


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def rows(rules: dict[str, str], trace: Trace) -> list[tuple[str, str, list[str], list[str]]]:
    return [
        (rule_id, title, compact_locations(trace.code.get(rule_id, [])), sorted(trace.tests.get(rule_id, ())))
        for rule_id, title in rules.items()
    ]


def render_text(table: list[tuple[str, str, list[str], list[str]]], title_width: int = 44) -> str:
    """One line per rule; a rule with several code places or tests continues on the next lines."""
    id_width = max(len("rule"), *(len(row[0]) for row in table))
    code_width = max(len("code"), *(len(place) for row in table for place in row[2] or [""]))
    lines = [f"{'rule':<{id_width}} | {'title':<{title_width}} | {'code':<{code_width}} | tests"]
    lines.append("-" * len(lines[0]) + "-" * 20)
    for rule_id, title, code, tests in table:
        cells = list(zip_longest(code or ["-"], tests or ["-"], fillvalue=""))
        for index, (place, test) in enumerate(cells):
            head = (rule_id, _truncate(title, title_width)) if index == 0 else ("", "")
            lines.append(f"{head[0]:<{id_width}} | {head[1]:<{title_width}} | {place:<{code_width}} | {test}".rstrip())
    return "\n".join(lines)


def render_markdown(table: list[tuple[str, str, list[str], list[str]]]) -> str:
    def cell(items: list[str]) -> str:
        return "<br>".join(f"`{item}`" for item in items) or "—"

    lines = ["| rule | title | code | tests |", "| --- | --- | --- | --- |"]
    for rule_id, title, code, tests in table:
        lines.append(f"| {rule_id} | {title.replace('|', '\\|')} | {cell(code)} | {cell(tests)} |")
    return "\n".join(lines)


def summary(table: list[tuple[str, str, list[str], list[str]]], markdown: bool) -> str:
    missing = [row[0] for row in table if not row[3]]
    tested = len(table) - len(missing)
    line = f"{len(table)} rules, {tested} with tests, {len(missing)} without tests"
    if not missing:
        return line
    return (
        f"{line}\n\nWithout tests: {', '.join(missing)}" if markdown else f"{line}\nwithout tests: {' '.join(missing)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a rule has no test")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    path = rules_md_path()
    if not path.is_file():
        print(f"RULES.md not found at {path} (set RULES_MD to its path)", file=sys.stderr)
        return 3
    rules = parse_rules(path.read_text(encoding="utf-8"))
    trace = trace_repo()
    table = rows(rules, trace)
    print(render_markdown(table) if args.markdown else render_text(table))
    print()
    print(summary(table, args.markdown))
    unknown = unknown_mentions(rules, trace)
    for rule_id, places in unknown.items():
        print(f"unknown rule {rule_id} (not in {path}): {', '.join(places)}", file=sys.stderr)
    if unknown:
        return 2
    return 1 if args.strict and any(not row[3] for row in table) else 0


if __name__ == "__main__":
    sys.exit(main())
