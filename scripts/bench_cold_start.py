"""Benchmark: cold-start import time of every function's handler module against ``import boto3``.

For every function in template.yaml (API functions and sweeps alike) this starts ``--runs``
fresh interpreters that import the handler module only (``app``; nothing is invoked), with
``sys.path`` as Lambda builds it (the function's code folder, then the layer's ``python``
folder) and the function environment from the template plus a region, dummy credentials and
the Lambda runtime's own variables (LAMBDA_TASK_ROOT, …), so no import reaches AWS and
libraries behave as in Lambda. The child times the import with ``time.perf_counter``. The
baseline is the same number of fresh interpreters running
``import boto3; boto3.client("dynamodb", region_name=...)``. Runs go in rounds (baseline and
every function once per round, shuffled) so load drift hits all alike. Per function it prints the
median, the ratio to the baseline median and whether it meets the target (≤ 1.5x), and then
the heaviest imports of the slowest function from one ``python -X importtime`` run.

The payment provider's SDK (``stripe``) is imported at the first charge, not at cold start: the
first payment call of a fresh BillingFunction environment (handler imported first, untimed) is
timed on its own, ``--runs`` times, against the payment stand-in: the SDK's import, its client
and the first request, with a second request of the same interpreter beside it (the request
alone). It is reported, not held to a target.

    .venv/bin/python scripts/bench_cold_start.py --runs 5 [--markdown docs/PERFORMANCE.md] [--fail-over 1.5]

A measurement, not a test: the exit code is 0 unless ``--fail-over RATIO`` is given and a
function's ratio exceeds it (or a handler fails to import).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from local_runtime import template  # noqa: E402
from local_runtime.dynamodb_local import LOCAL_AWS_ENV  # noqa: E402
from local_runtime.payment_standin import LOCAL_SECRET_KEY, PaymentStandIn  # noqa: E402
from scripts.bench_report import Row, Section, machine  # noqa: E402

LAYER_PATH = ROOT / "layers" / "shared" / "python"
TARGET_RATIO = 1.5
BASELINE = "<baseline>"
REGION = template.LOCAL_REGION
IMPORTTIME_MARKER = "--bench-cold-start: import begins--"
# Variables of the developer's shell that could make boto3 read a profile or reach AWS.
SCRUBBED_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE", "AWS_ENDPOINT_URL")

# The child: put the code folders on sys.path as Lambda does, then time the import alone.
CHILD_IMPORT = """\
import sys, time
sys.path[:0] = {paths!r}
sys.stderr.write({marker!r} + "\\n"); sys.stderr.flush()
started = time.perf_counter()
import {module}
elapsed = time.perf_counter() - started
print("BENCH_MS", elapsed * 1000.0)
"""
# The first payment call of an environment whose handler is imported: the SDK's import, client, request.
PAYMENT_FUNCTION = "BillingFunction"
CHILD_FIRST_PAYMENT = """\
import sys, time
sys.path[:0] = {paths!r}
import {module}
from lifecycle.billing import payments
from lifecycle.core.settings import get_settings
provider = payments.provider_for(get_settings())
started = time.perf_counter()
import stripe
imported = time.perf_counter() - started
provider.create_customer("acc_bench", "owner@example.com", "bench-first")
first = time.perf_counter() - started
started = time.perf_counter()
provider.create_customer("acc_bench", "owner@example.com", "bench-later")
later = time.perf_counter() - started
assert "stripe" in sys.modules
print("BENCH_MS", first * 1000.0)
print("BENCH_IMPORT_MS", imported * 1000.0)
print("BENCH_LATER_MS", later * 1000.0)
"""
CHILD_BASELINE = """\
import sys, time
sys.stderr.write({marker!r} + "\\n"); sys.stderr.flush()
started = time.perf_counter()
import boto3
boto3.client("dynamodb", region_name={region!r})
elapsed = time.perf_counter() - started
print("BENCH_MS", elapsed * 1000.0)
"""


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str
    handler: str  # e.g. "app.lambda_handler"
    module: str  # the handler's module, e.g. "app"
    kind: str  # "api", "schedule" or "other"


@dataclass(frozen=True)
class Result:
    function: Function
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def functions(document: dict[str, Any]) -> list[Function]:
    """Every AWS::Serverless::Function of the template, with its code folder and handler module."""
    api = {route.function for route in template.routes(document)}
    scheduled = {schedule.function for schedule in template.schedules(document, template.Resolver(document))}
    found = []
    for logical_id, resource in sorted(template.resources(document, "AWS::Serverless::Function").items()):
        handler = str(template.function_setting(document, logical_id, "Handler"))
        module = handler.rsplit(".", 1)[0]
        kind = "api" if logical_id in api else "schedule" if logical_id in scheduled else "other"
        found.append(Function(logical_id, str(resource["Properties"]["CodeUri"]), handler, module, kind))
    return found


def child_environment(document: dict[str, Any], temp_dir: Path, function: Function | None) -> dict[str, str]:
    """The environment a deployed function has (as the local stack resolves it), minus anything reaching AWS.

    The Lambda runtime's own variables are set too: libraries behave differently inside Lambda
    (the X-Ray SDK, for one, samples locally there instead of creating X-Ray clients on import).
    """
    env = {name: value for name, value in os.environ.items() if name not in SCRUBBED_ENV}
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up run must be able to write the bytecode cache
    env.update(template.function_environment(document, template.Resolver(document)))
    env.update(LOCAL_AWS_ENV)
    env.update(
        {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "REGION": REGION,
            "POWERTOOLS_METRICS_DISABLED": "true",  # metrics are only flushed by an invocation anyway
            "AWS_EC2_METADATA_DISABLED": "true",
            # Never read the developer's ~/.aws: boto3 looks there on client creation.
            "AWS_CONFIG_FILE": str(temp_dir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(temp_dir / "aws-credentials"),
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "LAMBDA_TASK_ROOT": str(ROOT / function.code_uri if function else temp_dir),
            "AWS_LAMBDA_FUNCTION_NAME": f"{template.LOCAL_STACK_NAME}-{function.logical_id if function else 'Base'}",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        }
    )
    if function is not None:
        env["_HANDLER"] = function.handler
        env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = str(
            template.function_setting(document, function.logical_id, "MemorySize")
        )
        if template.function_setting(document, function.logical_id, "Tracing") != "Active":
            env["POWERTOOLS_TRACE_DISABLED"] = "true"
    return env


def run_child(code: str, env: dict[str, str], cwd: Path, importtime: bool = False) -> tuple[float, str]:
    """Run one fresh interpreter; return the milliseconds it measured and its stderr."""
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", code]
    completed = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    match = re.search(r"^BENCH_MS (\S+)$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(f"child failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return float(match.group(1)), completed.stderr


def import_code(function: Function) -> str:
    paths = [str(ROOT / function.code_uri), str(LAYER_PATH)]
    return CHILD_IMPORT.format(paths=paths, marker=IMPORTTIME_MARKER, module=function.module)


def baseline_code() -> str:
    return CHILD_BASELINE.format(marker=IMPORTTIME_MARKER, region=REGION)


def measure(codes: dict[str, tuple[str, dict[str, str]]], cwd: Path, runs: int, warmup: int) -> dict[str, list[float]]:
    """Samples of every code, taken in rounds (one run of each per round, in a shuffled order), so
    a change of machine load while the benchmark runs affects the baseline and the functions alike."""
    # Warm-up runs fill the bytecode cache and the OS file cache, as a deployed package has them.
    for code, env in codes.values():
        for _ in range(warmup):
            run_child(code, env, cwd)
    samples: dict[str, list[float]] = {name: [] for name in codes}
    order = list(codes)
    shuffler = random.Random(0)  # noqa: S311 - an order, not a secret
    for round_ in range(runs):
        shuffler.shuffle(order)
        for name in order:
            samples[name].append(run_child(*codes[name], cwd)[0])
        print(f"  round {round_ + 1}/{runs} done", file=sys.stderr)
    return samples


@dataclass(frozen=True)
class ImportLine:
    self_us: int
    cumulative_us: int
    depth: int
    name: str


def parse_importtime(stderr: str) -> list[ImportLine]:
    """The ``-X importtime`` lines written after the marker, i.e. the timed import only."""
    _, _, after = stderr.partition(IMPORTTIME_MARKER)
    lines = []
    for line in after.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            lines.append(ImportLine(int(match.group(1)), int(match.group(2)), depth, match.group(4)))
    return lines


def heaviest(lines: list[ImportLine], count: int = 5) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The top packages by summed self time, and the top modules by self time (ms)."""
    packages: dict[str, int] = defaultdict(int)
    for line in lines:
        packages[line.name.split(".", 1)[0]] += line.self_us
    top_packages = sorted(packages.items(), key=lambda item: -item[1])[:count]
    top_modules = sorted(lines, key=lambda line: -line.self_us)[:count]
    return (
        [(name, us / 1000.0) for name, us in top_packages],
        [(line.name, line.self_us / 1000.0) for line in top_modules],
    )


@dataclass(frozen=True)
class FirstPayment:
    """The first payment call's samples (SDK import, client, request), the import's alone and a
    later request's."""

    first: list[float]
    imported: list[float]
    later: list[float]

    def row(self) -> Row:
        first, imported, later = (statistics.median(samples) for samples in (self.first, self.imported, self.later))
        return Row(
            "cold start",
            f"first payment call ({PAYMENT_FUNCTION}, stripe SDK)",
            f"{first:.0f} ms: import stripe {imported:.0f} ms, then StripeClient and the request; "
            f"a later request {later:.0f} ms",
            "reported",
            "info",
        )


def _figure(name: str, stdout: str) -> float:
    match = re.search(rf"^{name} (\S+)$", stdout, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"the child printed no {name}:\n{stdout[-2000:]}")
    return float(match.group(1))


def measure_first_payment(document: dict[str, Any], cwd: Path, runs: int) -> FirstPayment:
    """``runs`` fresh BillingFunction interpreters, each making its first two payment calls."""
    function = next(f for f in functions(document) if f.logical_id == PAYMENT_FUNCTION)
    standin = PaymentStandIn()
    standin.start()
    try:
        env = child_environment(document, cwd, function)
        env.update({"PAYMENT_API_BASE": standin.url, "PAYMENT_PROVIDER_SECRET": LOCAL_SECRET_KEY})
        code = CHILD_FIRST_PAYMENT.format(
            paths=[str(ROOT / function.code_uri), str(LAYER_PATH)], module=function.module
        )
        run_child(code, env, cwd)  # warm-up: the bytecode cache, as a deployed package has it
        first, imported, later = [], [], []
        for _ in range(runs):
            command = [sys.executable, "-c", code]
            done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=True, timeout=120)
            first.append(_figure("BENCH_MS", done.stdout))
            imported.append(_figure("BENCH_IMPORT_MS", done.stdout))
            later.append(_figure("BENCH_LATER_MS", done.stdout))
    finally:
        standin.stop()
    return FirstPayment(first, imported, later)


def table_rows(results: list[Result], baseline: list[float]) -> list[list[str]]:
    base, base_min = statistics.median(baseline), min(baseline)
    rows = []
    for result in results:
        ratio = result.median / base
        rows.append(
            [
                result.function.logical_id,
                result.function.kind,
                f"{result.median:.0f}",
                f"{min(result.samples):.0f}",
                f"{max(result.samples):.0f}",
                f"{ratio:.2f}x",
                f"{min(result.samples) / base_min:.2f}x",
                f"{TARGET_RATIO:.1f}x",
                "pass" if ratio <= TARGET_RATIO else "miss",
            ]
        )
    return rows


def summary_rows(results: list[Result], baseline: list[float], payment: FirstPayment | None = None) -> list[Row]:
    """make bench's rows: each function's median import as a ratio to the baseline's, then the
    first payment call's cost (reported)."""
    base = statistics.median(baseline)
    return [
        *([payment.row()] if payment is not None else []),
        *[
            Row(
                "cold start",
                result.function.logical_id,
                f"{result.median:.0f} ms = {result.median / base:.2f}x baseline ({base:.0f} ms)",
                f"<= {TARGET_RATIO:.1f}x",
                "pass" if result.median / base <= TARGET_RATIO else "miss",
            )
            for result in results
        ],
    ]


# "ratio" (median / baseline median) is the one the target applies to; "min ratio" (fastest run /
# fastest baseline run) is less sensitive to other load on the machine.
HEADERS = ["function", "kind", "median ms", "min ms", "max ms", "ratio", "min ratio", "target", "result"]


def plain_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    right = {2, 3, 4, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(HEADERS), line(["-" * w for w in widths]), *(line(row) for row in rows)])


def markdown_table(rows: list[list[str]]) -> str:
    align = ["---" if i < 2 or i == 8 else "---:" for i in range(len(HEADERS))]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [HEADERS, align, *rows])


def report(
    results: list[Result],
    baseline: list[float],
    runs: int,
    slowest: Function,
    top: tuple[list[tuple[str, float]], list[tuple[str, float]]],
    markdown: bool,
    payment: FirstPayment | None = None,
) -> str:
    base = statistics.median(baseline)
    rows = table_rows(results, baseline)
    passed = sum(row[-1] == "pass" for row in rows)
    info = machine()
    top_packages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in top[0])
    top_modules = ", ".join(f"{name} {ms:.1f} ms" for name, ms in top[1])
    summary = [
        f"baseline (import boto3 + boto3.client('dynamodb')): median {base:.0f} ms "
        f"(min {min(baseline):.0f}, max {max(baseline):.0f}) over {runs} fresh interpreters",
        f"{passed}/{len(rows)} functions within {TARGET_RATIO:.1f}x of the baseline",
        f"heaviest imports of the slowest function, {slowest.logical_id} (one -X importtime run, self time):",
        f"  packages: {top_packages}",
        f"  modules:  {top_modules}",
    ]
    if payment is not None:
        summary.append(f"{payment.row().subject}: {payment.row().measured}, median of {len(payment.first)}")
    header = (
        f"machine: {info['machine']}; {info['cpus']} CPUs; Python {info['python']}; {info['date']}; "
        f"median of {runs} fresh interpreters per function (handler module import only)"
    )
    if markdown:
        return "\n".join(
            [
                "## Cold start",
                "",
                header,
                "",
                markdown_table(rows),
                "",
                *(f"- {line.strip()}" if not line.startswith("  ") else f"  - {line.strip()}" for line in summary),
                "",
                f"Generated by `.venv/bin/python scripts/bench_cold_start.py --runs {runs} --markdown PATH`.",
                "",
            ]
        )
    return "\n".join([header, "", plain_table(rows), "", *summary])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7, help="fresh interpreters per function (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first per function (default 1)")
    parser.add_argument("--only", nargs="*", default=None, help="logical ids of the functions to measure")
    parser.add_argument("--markdown", type=Path, default=None, help="also write the table as markdown here")
    parser.add_argument("--fail-over", type=float, default=None, help="exit 1 when a ratio exceeds this")
    parser.add_argument("--json", type=Path, default=None, help="write make bench's rows here (scripts/bench.py)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    document = template.load()
    selected = [f for f in functions(document) if args.only is None or f.logical_id in args.only]
    if not selected:
        parser.error("no function selected")
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as temp:
        cwd = Path(temp)
        codes = {BASELINE: (baseline_code(), child_environment(document, cwd, None))}
        codes.update({f.logical_id: (import_code(f), child_environment(document, cwd, f)) for f in selected})
        samples = measure(codes, cwd, args.runs, args.warmup)
        baseline = samples[BASELINE]
        results = [Result(f, samples[f.logical_id]) for f in selected]
        slowest = max(results, key=lambda result: result.median).function
        _, stderr = run_child(import_code(slowest), child_environment(document, cwd, slowest), cwd, importtime=True)
        payment = (
            measure_first_payment(document, cwd, args.runs)
            if args.only is None or PAYMENT_FUNCTION in args.only
            else None
        )
    top = heaviest(parse_importtime(stderr))

    print(report(results, baseline, args.runs, slowest, top, markdown=False, payment=payment))
    if args.markdown is not None:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(
            report(results, baseline, args.runs, slowest, top, markdown=True, payment=payment), encoding="utf-8"
        )
        print(f"\nwrote {args.markdown}")
    if args.json is not None:
        markdown = report(results, baseline, args.runs, slowest, top, markdown=True, payment=payment)
        Section("cold start", summary_rows(results, baseline, payment), markdown).write(args.json)
    if args.fail_over is not None:
        base = statistics.median(baseline)
        over = [r.function.logical_id for r in results if r.median / base > args.fail_over]
        if over:
            print(f"over {args.fail_over}x: {', '.join(over)}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
