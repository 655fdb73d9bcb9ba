"""Generate the OpenAPI document from the functions' own resolvers (``make openapi``).

Each API function has its own Powertools resolver; Powertools' OpenAPIMerge joins them
into one document, written beside the docs function that serves it. ``--check`` fails
when the committed document differs from what the code generates.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "functions" / "docs" / "openapi.json"
TITLE = "Help desk account lifecycle API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Accounts, vouchers, seats, billing, cancellation and data-protection rights of the help desk SaaS. "
    "Errors are application/problem+json (RFC 9457) with a stable `code`. "
    "Authenticated routes take a JWT bearer token (claims sub, account_id, role); each operation's "
    "`security` lists the roles that may call it (`[{}]`: public, no token). A token of one account "
    "never reads another: 404."
)


def generate() -> str:
    # Importing handlers must not need AWS: give them a harmless environment.
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    sys.path[:0] = [str(ROOT / "layers" / "shared" / "python"), str(ROOT)]

    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    from local_runtime import template

    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes={"bearerAuth": HTTPBearer(bearerFormat="JWT")},
        security=[{"bearerAuth": []}],
        on_conflict="error",
    )
    for code_uri in sorted({route.code_uri for route in template.routes(template.load())}):
        merge.add_file(ROOT / code_uri / "app.py", resolver_name="app")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a handler that fails to load must fail the build
        return merge.get_openapi_json_schema() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed document is stale")
    args = parser.parse_args()
    document = generate()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text(encoding="utf-8") != document:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run `make openapi` and commit it", file=sys.stderr)
            return 1
        print(f"{OUTPUT.relative_to(ROOT)} is up to date")
        return 0
    OUTPUT.write_text(document, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
