"""Generate the OpenAPI document from the functions' own resolvers (``make openapi``).

Each API function has its own Powertools resolver; Powertools' OpenAPIMerge joins them
into one document, written beside the docs function that serves it. ``--check`` fails
when the committed document differs from what the code generates.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

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

    # The routes declare the roles of this scheme (lifecycle.core.auth.allowed). It is given to each
    # resolver here, not in create_app: its models cost every function's cold start ~70 ms.
    schemes = {"bearerAuth": HTTPBearer(bearerFormat="JWT")}
    merge = OpenAPIMerge(
        title=TITLE,
        version=VERSION,
        description=DESCRIPTION,
        security_schemes=schemes,  # type: ignore[arg-type]
        security=[{"bearerAuth": []}],
        on_conflict="error",
    )
    own: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a handler that fails to load must fail the build
        for code_uri in sorted({route.code_uri for route in template.routes(template.load())}):
            app = _load_app(code_uri)
            app.configure_openapi(security_schemes=schemes)
            schema = json.loads(app.get_openapi_json_schema())
            merge.add_schema(schema)
            own[code_uri] = schema.get("components", {}).get("schemas", {})
        document = merge.get_openapi_json_schema() + "\n"
    _refuse_schema_name_clashes(document, own)
    return document


def _load_app(code_uri: str) -> Any:
    """The ``app`` resolver of a function's ``app.py`` (every handler module is named app)."""
    spec = importlib.util.spec_from_file_location(f"openapi_{Path(code_uri).name}", ROOT / code_uri / "app.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"{code_uri}app.py cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


def _refuse_schema_name_clashes(document: str, own: dict[str, dict[str, Any]]) -> None:
    """Two functions' models of one name merge into one schema, so a route would be documented
    with another route's body; ``on_conflict`` covers paths only, so compare each function's
    own schemas with the merged ones."""
    merged = json.loads(document).get("components", {}).get("schemas", {})
    clashes = [
        f"{code_uri}: {name}"
        for code_uri, schemas in own.items()
        for name, schema in schemas.items()
        if merged.get(name) != schema
    ]
    if clashes:
        raise SystemExit("schemas of one name differ between functions (rename a model): " + ", ".join(clashes))


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
