"""``python -m local_runtime``: DynamoDB Local, the payment provider's stand-in, the template's tables,
its schedules and its HTTP API.

Stops everything it started (the DynamoDB Local JVM included, waited for) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from local_runtime.template import ROOT

# The layer's package (``lifecycle``) is what Lambda mounts at /opt/python; the runtime's
# own modules import its clock, so it goes on the path before they are imported.
_LAYER = str(ROOT / "layers" / "shared" / "python")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)

from lifecycle.core import clock  # noqa: E402 - needs the layer on sys.path
from local_runtime import (  # noqa: E402
    dynamodb_local,
    portal,
    server,
    streams,
    tokens,
)
from local_runtime.functions import MAX_CONCURRENCY, Functions  # noqa: E402
from local_runtime.identity import IdentityProvider, IdentityProviderError, LocalIdentity  # noqa: E402
from local_runtime.payment_standin import PaymentStandIn  # noqa: E402
from local_runtime.scheduler import Scheduler  # noqa: E402
from local_runtime.template import (  # noqa: E402
    LOCAL_PARAMETERS,
    Resolver,
    StreamConsumer,
    load,
    routes,
    schedules,
    stream_consumers,
)

log = logging.getLogger("local_runtime")
READY_LINE = "local runtime ready on http://{host}:{port}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m local_runtime", description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")), help="HTTP port (env PORT)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to serve on (default 127.0.0.1)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(".local/data"),
        help="DynamoDB data, the email outbox, the payment stand-in's state; relative to the repository root",
    )
    parser.add_argument("--in-memory", action="store_true", help="keep DynamoDB data in memory only")
    parser.add_argument("--dynamodb-port", type=int, default=None, help="DynamoDB Local's port (default: a free one)")
    parser.add_argument(
        "--payment-port",
        type=int,
        default=int(os.environ.get("PAYMENT_PORT", "0")),
        help="the payment provider stand-in's port (env PAYMENT_PORT; default: a free one)",
    )
    parser.add_argument(
        "--portal-port",
        type=int,
        default=int(os.environ.get("PORTAL_PORT", str(portal.DEFAULT_PORT))),
        help=f"the owner's portal (web/) port (env PORTAL_PORT; default {portal.DEFAULT_PORT}, API.md's local "
        "web client origin; another port is allowed as an origin too; 0: no portal)",
    )
    parser.add_argument("--no-schedules", action="store_true", help="do not fire schedules (run them via /_local/)")
    parser.add_argument("--no-streams", action="store_true", help="do not run the DynamoDB stream consumers")
    parser.add_argument(
        "--max-concurrency",
        type=_positive,
        default=MAX_CONCURRENCY,
        metavar="N",
        help=f"environments per function at most, as Lambda's concurrency (default {MAX_CONCURRENCY}); "
        "more requests wait for one",
    )
    parser.add_argument(
        "--no-identity",
        action="store_true",
        help="no identity provider: the service manages no sign-ins, as a stack without a user pool "
        "(tokens from POST /_local/token only; no portal)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        type=_origin,
        metavar="ORIGIN",
        help="one more origin browsers may call the API from (CorsAllowedOrigins), e.g. a web client "
        "on another port: http://127.0.0.1:5174; repeatable",
    )
    return parser.parse_args(argv)


def _positive(value: str) -> int:
    """A count of environments: a whole number of at least one."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number of at least 1")
    return int(value)


def _origin(value: str) -> str:
    """An origin as the template's ``CorsAllowedOrigins`` pattern takes it: ``http(s)://host[:port]``."""
    if not re.fullmatch(load()["Parameters"]["CorsAllowedOrigins"]["AllowedPattern"], value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an origin (http(s)://host[:port], no path, no '*')")
    return value


def local_parameters(extra_origins: list[str], portal_port: int = portal.DEFAULT_PORT) -> dict[str, str]:
    """The local stack's parameter overrides, with ``extra_origins`` allowed beside the local web
    client's; a portal on another port than the default is allowed too, and is where links in
    notices point (``PortalBaseUrl``)."""
    parameters = dict(LOCAL_PARAMETERS)
    if portal_port not in (0, portal.DEFAULT_PORT):
        extra_origins = [*portal.origins(portal_port), *extra_origins]
        parameters["PortalBaseUrl"] = portal.url(portal_port)
    if extra_origins:
        parameters["CorsAllowedOrigins"] = ",".join([parameters["CorsAllowedOrigins"], *extra_origins])
    return parameters


def _stop_on_sigterm() -> None:
    # SIGTERM takes the same way out as Ctrl-C: serve_forever returns, the finally blocks clean up.
    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def _ignore_signals() -> None:
    # A second Ctrl-C while cleaning up must not leave the JVM behind.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _announce(
    host: str,
    port: int,
    dynamodb: dynamodb_local.DynamoDBLocal,
    payments: PaymentStandIn,
    identity: LocalIdentity | None,
    consumers: list[StreamConsumer],
    dead_letters: Path,
    portal_url: str | None = None,
) -> None:
    api = f"http://{host}:{port}"
    storage = "in memory" if dynamodb.data_dir is None else f"data in {dynamodb.data_dir}"
    kept = "in memory" if payments.state_path is None else f"state in {payments.state_path}"
    print(f"API       {api}", flush=True)
    print(f"Docs      {api}/docs", flush=True)
    print(f"OpenAPI   {api}/openapi.json", flush=True)
    print(f"DynamoDB  {dynamodb.endpoint} ({storage})", flush=True)
    print(f"Payments  {payments.url} (Stripe's API, stand-in; {kept})", flush=True)
    if payments.webhook_url is not None:
        print(f"Webhooks  {payments.webhook_url} (signed with {payments.webhook_secret})", flush=True)
    if identity is not None:
        print(
            f"Identity  {identity.endpoint} (Cognito's API; pool {identity.user_pool_id}, "
            f"web client {identity.client_id})",
            flush=True,
        )
    else:
        print("Identity  none (--no-identity: the service manages no sign-ins)", flush=True)
    if portal_url is not None:
        print(f"Portal    {portal_url} (web/, the owner's portal; its config.json names these addresses)", flush=True)
    for consumer in consumers:
        print(f"Stream    {streams.describe_consumer(consumer)}", flush=True)
    if consumers:
        print(f"Failed    stream batches' on-failure records in {dead_letters}", flush=True)
    print(READY_LINE.format(host=host, port=port), flush=True)


def run(args: argparse.Namespace) -> None:
    template = load()
    resolver = Resolver(template, parameters=local_parameters(args.allow_origin, args.portal_port))
    data_dir = args.data_dir if args.data_dir.is_absolute() else ROOT / args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    jar = dynamodb_local.ensure_installed(ROOT)
    dynamodb = dynamodb_local.DynamoDBLocal(
        args.dynamodb_port or dynamodb_local.free_port(),
        None if args.in_memory else data_dir / "dynamodb",
        jar=jar,
    )
    with contextlib.ExitStack() as cleanup:
        try:
            _start_and_serve(args, data_dir, template, resolver, dynamodb, cleanup)
        finally:
            _ignore_signals()  # before the ExitStack stops what was started


def _start_and_serve(
    args: argparse.Namespace,
    data_dir: Path,
    template: dict[str, Any],
    resolver: Resolver,
    dynamodb: dynamodb_local.DynamoDBLocal,
    cleanup: contextlib.ExitStack,
) -> None:
    # Bound first, so a taken port fails before DynamoDB Local is started for nothing.
    loopback = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    base_url = f"http://{loopback}:{args.port}"
    # The payment provider's stand-in (its clock is the service's, set by PUT /_local/clock).
    payments = PaymentStandIn(
        None if args.in_memory else data_dir / server.PAYMENTS_FILE, now=lambda: clock.now().timestamp()
    )
    payments.start(loopback, args.payment_port)
    cleanup.callback(payments.stop)
    # The local identity provider: the template's user pool, its ID tokens trusted as in AWS;
    # started before the functions' environment, which names its pool.
    identity = None
    if not args.no_identity:
        provider = IdentityProvider(template, resolver)
        identity = provider.start(loopback)
        cleanup.callback(provider.stop)
    server.configure_environment(
        template, resolver, dynamodb.endpoint, data_dir / server.OUTBOX_FILE, base_url, payments.url, identity
    )
    functions = Functions(template, resolver.stack_name, max_concurrency=args.max_concurrency)
    app = server.LocalApi(template, resolver, functions, data_dir)
    if identity is not None:
        tokens.trust(tokens.Issuer(identity.issuer, identity.client_id, identity.jwks_url))
    app.identity = identity
    http = server.serve(app, args.host, args.port)
    cleanup.callback(http.server_close)
    portal_url = None
    if args.portal_port and identity is not None:
        api_url = f"http://{loopback}:{http.server_port}"
        web = portal.Portal(portal.PortalConfig(api_url, identity))
        portal_url = web.start(args.host, args.portal_port)
        cleanup.callback(web.stop)
    # The stand-in delivers its signed events to the service as Stripe would to its endpoint.
    payments.deliver_to(f"http://{loopback}:{http.server_port}/webhooks/payments")
    dynamodb.start()
    cleanup.callback(dynamodb.stop)
    dynamodb_local.create_tables(dynamodb.endpoint, template, resolver)
    every_schedule = schedules(template, resolver)
    consumers = [] if args.no_streams else [c for c in stream_consumers(template, resolver) if c.enabled]
    functions.preload(
        [route.function for route in routes(template)]
        + [s.function for s in every_schedule]
        + [c.function for c in consumers]
    )
    if not args.no_schedules:
        scheduler = Scheduler(every_schedule, app.run_schedule)
        scheduler.start()
        cleanup.callback(scheduler.stop)
    dead_letters = data_dir / streams.DEAD_LETTERS_FILE
    if consumers:
        pollers = streams.StreamConsumers(
            consumers,
            streams.streams_client(dynamodb.endpoint),
            dynamodb_local.client(dynamodb.endpoint),
            functions.invoke,
            streams.DeadLetters(dead_letters),
        )
        pollers.start()
        cleanup.callback(pollers.stop)
        app.stream_consumers = pollers
    _announce(args.host, http.server_port, dynamodb, payments, identity, consumers, dead_letters, portal_url)
    http.serve_forever()  # returns on Ctrl-C or SIGTERM: werkzeug swallows the KeyboardInterrupt
    log.info("stopping the scheduler, the HTTP server and DynamoDB Local")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    _stop_on_sigterm()
    try:
        run(args)
    except KeyboardInterrupt:
        pass  # stopped while starting; everything started was stopped on the way out
    except (dynamodb_local.DynamoDBLocalError, IdentityProviderError) as error:
        log.error("%s", error)
        return 1
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
