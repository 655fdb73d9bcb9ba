"""Concurrent invocations in one process each resolve their own request.

Powertools keeps the request on a class shared by every resolver of the process; the
local runtime and the integration tests run concurrent invocations in one process, so
``lifecycle.entry.http`` keeps it per thread.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from pydantic import BaseModel

from lifecycle.entry.http import create_app
from local_runtime import events, template

THREADS = 8


class Note(BaseModel):
    text: str


def _event(path: str, text: str) -> dict[str, Any]:
    request = events.HttpRequest(
        method="POST",
        path=path,
        headers=[("content-type", "application/json")],
        body=json.dumps({"text": text}).encode(),
    )
    route = template.Route(
        method="POST", path=path, function="Test", code_uri="functions/test/", handler="app.lambda_handler", public=True
    )
    return events.http_event(request, route, {}, None)


def test_concurrent_requests_to_different_resolvers_never_see_each_others_bodies() -> None:
    barrier = threading.Barrier(THREADS)
    apps = []
    for n in range(THREADS):
        app = create_app()

        @app.post(f"/notes/{n}")
        def echo(note: Annotated[Note, Body()], app: Any = app) -> dict[str, str]:
            barrier.wait(timeout=10)  # every request is in flight before any reads its event
            return {"text": note.text, "path": app.current_event.path}

        apps.append(app)

    def run(n: int) -> dict[str, Any]:
        result: dict[str, Any] = apps[n].resolve(_event(f"/notes/{n}", f"note {n}"), None)
        return dict(json.loads(result["body"]))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(run, range(THREADS)))
    assert answers == [{"text": f"note {n}", "path": f"/notes/{n}"} for n in range(THREADS)]


def test_concurrent_requests_to_one_resolver_keep_their_own_routes() -> None:
    """Powertools keeps the matched route in ``app.context`` while resolving; one resolver
    (one function's module) serving concurrent requests must not mix them up."""
    barrier = threading.Barrier(THREADS)
    app = create_app()

    @app.post("/notes/<n>")
    def echo(n: str, note: Annotated[Note, Body()]) -> dict[str, str]:
        barrier.wait(timeout=10)
        return {"text": note.text, "n": n, "path": app.current_event.path}

    def run(n: int) -> dict[str, Any]:
        result: dict[str, Any] = app.resolve(_event(f"/notes/{n}", f"note {n}"), None)
        assert result["statusCode"] == 200, result
        return dict(json.loads(result["body"]))

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(run, range(THREADS)))
    assert answers == [{"text": f"note {n}", "n": str(n), "path": f"/notes/{n}"} for n in range(THREADS)]
