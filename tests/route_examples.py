"""One valid example request for every operation of the OpenAPI document, for every tier.

The catalogue (``EXAMPLES``) is keyed by ``(METHOD, openapi path)``. Each entry names the
caller it is made for (``owner``, ``admin``, ``agent``, ``staff`` or ``public``), what it
needs set up beforehand (``needs``) and builds, from a :class:`Scene` (the ids a test set
up), the concrete path, query string and JSON body. Bodies are chosen so the route
succeeds (2xx) for that caller in a freshly built scene.

The scene is built through a :class:`Client`, so the unit tier (``tests.support.call``
over moto) and the e2e tier (HTTP over the local runtime) share the set-up steps as well
as the examples: each tier supplies its own transport, clock and outbox.

``operations()`` lists the document's operations; ``missing_examples()`` names those
without an entry and ``assert_catalogued()`` fails naming them, so a route added without
an example fails the tests that use the catalogue.
"""

from __future__ import annotations

import json
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from tests.support import billing_details_body, call, outbox_items

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "functions" / "docs" / "openapi.json"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ROLES = ("owner", "admin", "agent", "staff")
STAFF_CLAIMS = {"sub": "staff-1", "role": "staff"}
# A link's token in a notice or a result: ``…?token=<token>``.
TOKEN_IN_LINK = re.compile(r"\?token=([A-Za-z0-9_\-.]+)")


# ---------------------------------------------------------------- the OpenAPI document


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    security: list[dict[str, list[str]]] | None

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def mutating(self) -> bool:
        return self.method in MUTATING

    @property
    def public(self) -> bool:
        """Declared ``security: [{}]`` (or ``[]``): no token needed."""
        return self.security is not None and all(not requirement for requirement in self.security)

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles the declaration allows (empty for a public operation or none declared)."""
        found: list[str] = []
        for requirement in self.security or []:
            for role in requirement.get("bearerAuth", []):
                if role not in found:
                    found.append(role)
        return tuple(found)


def load_document(path: Path = OPENAPI_PATH) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def operations(document: dict[str, Any] | None = None) -> list[Operation]:
    """Every operation of the document (the committed one by default), in document order."""
    document = document if document is not None else load_document()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() in {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}:
                found.append(Operation(method.upper(), path, operation.get("security")))
    return found


def missing_examples(ops: Iterable[Operation]) -> list[str]:
    """The operations without a catalogue entry, as ``METHOD path``."""
    return [op.id for op in ops if op.key not in EXAMPLES]


def assert_catalogued(ops: Iterable[Operation]) -> None:
    """Fails naming every operation that has no example: add one to ``tests/route_examples.py``."""
    missing = missing_examples(ops)
    assert not missing, f"operations without an example in tests/route_examples.py: {missing}"


# ---------------------------------------------------------------- transport


@dataclass
class Answer:
    status: int
    body: Any

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None


class Client(Protocol):
    """How a tier reaches the service: requests as a caller (claims; None: no token), its
    clock and its outbox."""

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        claims: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer: ...

    def now(self) -> datetime:
        """The service's clock now."""
        ...

    def set_clock(self, instant: datetime | None) -> None:
        """Stand the service's clock at ``instant`` (None: back to how the scene found it)."""
        ...

    def outbox(self) -> list[dict[str, Any]]:
        """The notices sent so far, oldest first."""
        ...


class InProcessClient:
    """The scene's transport in process (unit tier, ``make bench-round-trips``): each handler
    through ``tests.support.call`` over whatever tables the service points at, the clock of
    ``lifecycle.core.clock`` (back to ``start`` when a scene resets it), the outbox file at ``outbox``."""

    def __init__(self, start: datetime, outbox: Path) -> None:
        self.start = start
        self.outbox_path = outbox

    def send(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        claims: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        reply = call(method, url, body=body, claims=claims, headers=headers)
        return Answer(reply.status, reply.body)

    def now(self) -> datetime:
        from lifecycle.core import clock

        return clock.now()

    def set_clock(self, instant: datetime | None) -> None:
        from lifecycle.core import clock

        clock.set_now(instant or self.start)

    def outbox(self) -> list[dict[str, Any]]:
        return outbox_items(self.outbox_path)


def ok(answer: Answer, *statuses: int) -> Any:
    assert answer.status in statuses, f"set-up step answered {answer.status}: {answer.body}"
    return answer.body


# ---------------------------------------------------------------- the scene


@dataclass
class Scene:
    """The ids a test set up: account A (owner, admin, agent) and what ``needs`` asked for."""

    tag: str
    now: datetime
    account_id: str
    owner_id: str
    owner_email: str
    admin_id: str
    agent_id: str
    other_account_id: str | None = None
    other_owner_id: str | None = None
    invoice_id: str | None = None
    campaign_id: str | None = None
    codes: list[str] = field(default_factory=list)
    cancellation_request_id: str | None = None
    custom_request_id: str | None = None
    privacy_request_id: str | None = None
    verification_token: str | None = None
    verified_request_id: str | None = None
    export_request_id: str | None = None
    export_token: str | None = None
    unsubscribe_token: str | None = None
    fee_period: str | None = None
    spare_user_id: str | None = None

    def claims(self, role: str) -> dict[str, str]:
        """The claims of account A's member in ``role`` (or of support staff)."""
        if role == "staff":
            return dict(STAFF_CLAIMS)
        sub = {"owner": self.owner_id, "admin": self.admin_id, "agent": self.agent_id}[role]
        return {"sub": sub, "account_id": self.account_id, "role": role}

    def other_owner(self) -> dict[str, str]:
        assert self.other_account_id, "the scene was built without `other`"
        assert self.other_owner_id
        return {"sub": self.other_owner_id, "account_id": self.other_account_id, "role": "owner"}


def registrant(tag: str, **changes: Any) -> dict[str, Any]:
    """A valid signup or redemption body, unique to ``tag``."""
    return {
        "full_name": "Maria Ivanova",
        "email": f"{tag}@example.com",
        "company_name": f"Company {tag}",
        "subdomain": f"c-{tag}",
        "birth_date": "1990-05-17",
        "accept_terms": True,
        "authority_to_bind": True,
        "human_token": "human",
        **changes,
    }


def billing_details(tag: str, **changes: Any) -> dict[str, Any]:
    """Complete billing details (R-VOUCH-8) of a Bulgarian company, unique to ``tag``."""
    return billing_details_body(**{"email": f"billing-{tag}@example.com", "company": f"Example {tag} Ltd", **changes})


def _user(tag: str, name: str, role: str) -> dict[str, str]:
    return {"full_name": f"Petar {name.title()}", "email": f"{tag}-{name}@example.com", "role": role}


def _token_of(text: str) -> str:
    match = TOKEN_IN_LINK.search(text)
    assert match, f"no link token in {text!r}"
    return match.group(1)


def _emailed_token(client: Client, notice_type: str, request_id: str) -> str:
    """The token of the link in the latest ``notice_type`` notice about ``request_id``."""
    notices = [item for item in client.outbox() if item["type"] == notice_type and request_id in item["body"]]
    assert notices, f"no {notice_type} notice about {request_id} in the outbox"
    return _token_of(notices[-1]["body"])


def _signup(client: Client, tag: str) -> dict[str, Any]:
    account: dict[str, Any] = ok(client.send("POST", "/signups", body=registrant(tag, plan="ticket")), 201)
    return account


def _privacy_request(client: Client, scene: Scene, type_: str, **extra: Any) -> str:
    body = {"type": type_, "email": scene.owner_email, **extra}
    request_id: str = ok(client.send("POST", "/privacy/requests", body=body), 202)["id"]
    return request_id


def _staff_verified(client: Client, scene: Scene, type_: str, **extra: Any) -> str:
    request_id = _privacy_request(client, scene, type_, **extra)
    note = {"note": "called back on the number on file"}
    ok(client.send("POST", f"/admin/privacy/requests/{request_id}/verify", body=note, claims=STAFF_CLAIMS), 200)
    return request_id


# Each step sets one thing up on account A; ``needs`` names them, in this order.
def _other(client: Client, scene: Scene) -> None:
    other = _signup(client, f"{scene.tag}-b")
    scene.other_account_id, scene.other_owner_id = other["id"], other["owner_id"]


def _paid(client: Client, scene: Scene) -> None:
    """Billing details and a card: the trial ends and the first period is invoiced (R-PAY-4)."""
    account = f"/accounts/{scene.account_id}"
    owner = scene.claims("owner")
    ok(client.send("PUT", f"{account}/billing-details", body=billing_details(scene.tag), claims=owner), 200)
    method = {"type": "card", "token": "tok_visa"}
    paid = ok(client.send("PUT", f"{account}/payment-method", body=method, claims=owner), 200)
    assert paid["invoice"], paid
    scene.invoice_id = paid["invoice"]["id"]


def _billing_details(client: Client, scene: Scene) -> None:
    body = billing_details(scene.tag)
    ok(
        client.send("PUT", f"/accounts/{scene.account_id}/billing-details", body=body, claims=scene.claims("owner")),
        200,
    )


def _campaign(client: Client, scene: Scene) -> None:
    scene.campaign_id = f"deal-{scene.tag}"
    deal = {
        "campaign_id": scene.campaign_id,
        "name": "Test deal",
        "price": {"amount": 5900, "currency": "USD"},
        "redeem_by": "2099-12-31T23:59:59",
        "time_zone": "Europe/Sofia",
    }
    ok(client.send("POST", "/admin/campaigns", body=deal, claims=STAFF_CLAIMS), 201)
    generated = client.send(
        "POST", f"/admin/campaigns/{scene.campaign_id}/codes", body={"count": 3}, claims=STAFF_CLAIMS
    )
    scene.codes = list(ok(generated, 201)["codes"])


def _cancellation_request(client: Client, scene: Scene) -> None:
    url = f"/accounts/{scene.account_id}/cancellation-requests"
    scene.cancellation_request_id = ok(client.send("POST", url, claims=scene.claims("owner")), 202)["request_id"]


def _custom_request(client: Client, scene: Scene) -> None:
    body = {"title": "A Jira importer", "description": "Import our Jira tickets every night."}
    url = f"/accounts/{scene.account_id}/custom-requests"
    scene.custom_request_id = ok(client.send("POST", url, body=body, claims=scene.claims("owner")), 201)["id"]


def _privacy_received(client: Client, scene: Scene) -> None:
    """A received request and the token of its emailed verification link (R-GDPR-10)."""
    scene.privacy_request_id = _privacy_request(client, scene, "access")
    scene.verification_token = _emailed_token(client, "privacy_request_verification", scene.privacy_request_id)


def _privacy_verified(client: Client, scene: Scene) -> None:
    scene.verified_request_id = _staff_verified(client, scene, "restriction")


def _export(client: Client, scene: Scene) -> None:
    """A completed access request and its download link's token (R-GDPR-3)."""
    request_id = _staff_verified(client, scene, "access")
    url = f"/admin/privacy/requests/{request_id}/complete"
    ok(client.send("POST", url, body={}, claims=STAFF_CLAIMS), 200)
    scene.export_request_id = request_id
    # The download link is emailed, never kept with the request.
    scene.export_token = _emailed_token(client, "privacy_request_completed", request_id)


def _unsubscribe(client: Client, scene: Scene) -> None:
    """The one-click link a marketing email to the owner carries (R-GDPR-9), signed as the
    service signs it (the runtime and the tests share the template's link secret)."""
    from lifecycle.core.settings import get_settings
    from lifecycle.privacy import consents, privacy

    settings = get_settings()
    scene.unsubscribe_token = _token_of(
        consents.unsubscribe_link(privacy.person_key(scene.owner_email, settings), settings)
    )


def _fee(client: Client, scene: Scene) -> None:
    """The owner's login used on three devices at once on three days: the period's
    shared-login fee is pending (R-USE-1, R-USE-2). The clock is put back afterwards."""
    url = f"/accounts/{scene.account_id}/sessions"
    for day in (1, 2, 3):
        for minutes, device in ((0, "laptop-maria"), (4, "laptop-ivan"), (8, "phone-petya")):
            client.set_clock(scene.now + timedelta(days=day, minutes=minutes))
            ok(client.send("POST", url, body={"device_id": device}, claims=scene.claims("owner")), 201)
    client.set_clock(None)
    listed = ok(client.send("GET", f"/accounts/{scene.account_id}/shared-logins", claims=scene.claims("owner")), 200)
    scene.fee_period = listed["fees"][0]["period"]


def _suspended(client: Client, scene: Scene) -> None:
    body = {"reason": "terms_violation", "details": "Resold seats to third parties."}
    ok(client.send("POST", f"/admin/accounts/{scene.account_id}/suspend", body=body, claims=STAFF_CLAIMS), 200)


def _spare_user(client: Client, scene: Scene) -> None:
    body = _user(scene.tag, "spare", "agent")
    added = client.send("POST", f"/accounts/{scene.account_id}/users", body=body, claims=scene.claims("owner"))
    scene.spare_user_id = ok(added, 201)["user_id"]


STEPS: dict[str, Callable[[Client, Scene], None]] = {
    "other": _other,
    "billing_details": _billing_details,
    "paid": _paid,
    "campaign": _campaign,
    "cancellation_request": _cancellation_request,
    "custom_request": _custom_request,
    "privacy_received": _privacy_received,
    "privacy_verified": _privacy_verified,
    "export": _export,
    "unsubscribe": _unsubscribe,
    "fee": _fee,
    "spare_user": _spare_user,
    "suspended": _suspended,
}
EVERYTHING = frozenset(STEPS)


def build_scene(client: Client, needs: Iterable[str] = EVERYTHING, tag: str | None = None) -> Scene:
    """Account A (a trial of the `ticket` plan, its owner, an admin and an agent) and the
    steps ``needs`` names, each through ``client``."""
    needs = set(needs)
    unknown = needs - set(STEPS)
    assert not unknown, f"unknown scene steps: {sorted(unknown)}"
    tag = tag or uuid.uuid4().hex[:10]
    now = client.now()
    account = _signup(client, tag)
    scene = Scene(
        tag=tag,
        now=now,
        account_id=account["id"],
        owner_id=account["owner_id"],
        owner_email=f"{tag}@example.com",
        admin_id="",
        agent_id="",
    )
    users = f"/accounts/{scene.account_id}/users"
    for role in ("admin", "agent"):
        added = ok(client.send("POST", users, body=_user(tag, role, role), claims=scene.claims("owner")), 201)
        setattr(scene, f"{role}_id", added["user_id"])
    for name, step in STEPS.items():  # in STEPS' order: `paid` before what bills, `suspended` last
        if name in needs:
            step(client, scene)
    return scene


# ---------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class Request:
    path: str
    query: str = ""
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True)
class Example:
    """``build(scene)`` is a request ``caller`` may make with success in a scene built with ``needs``."""

    caller: str
    build: Callable[[Scene], Request]
    needs: frozenset[str] = frozenset()


def _ex(caller: str, build: Callable[[Scene], Request], *needs: str) -> Example:
    return Example(caller, build, frozenset(needs))


def _a(scene: Scene, rest: str = "") -> str:
    return f"/accounts/{scene.account_id}{rest}"


def _admin(scene: Scene, rest: str) -> str:
    return f"/admin/accounts/{scene.account_id}{rest}"


def _signed_event(scene: Scene) -> Request:
    """A provider event signed now with the stand-in's secret, sent as JSON is sent (``json.dumps``)."""
    from local_runtime.payment_standin import LOCAL_WEBHOOK_SECRET, sign

    event = {
        "id": f"evt_{scene.tag}",
        "object": "event",
        "type": "customer.created",
        "data": {"object": {"id": f"cus_{scene.tag}", "object": "customer", "metadata": {}}},
    }
    signature = sign(json.dumps(event).encode(), LOCAL_WEBHOOK_SECRET, int(time.time()))
    return Request("/webhooks/payments", body=event, headers={"stripe-signature": signature})


def _iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


STAFF_ACTION = {"reason": "terms_violation", "details": "Resold seats to third parties."}

EXAMPLES: dict[tuple[str, str], Example] = {
    # accounts and members
    ("GET", "/accounts/{id}"): _ex("owner", lambda s: Request(_a(s))),
    ("GET", "/accounts/{id}/audit"): _ex("owner", lambda s: Request(_a(s, "/audit"))),
    ("POST", "/accounts/{id}/users"): _ex(
        "owner", lambda s: Request(_a(s, "/users"), body=_user(s.tag, "new", "agent"))
    ),
    ("GET", "/accounts/{id}/users"): _ex("owner", lambda s: Request(_a(s, "/users"))),
    ("DELETE", "/accounts/{id}/users/{user_id}"): _ex(
        "owner", lambda s: Request(_a(s, f"/users/{s.spare_user_id}")), "spare_user"
    ),
    ("POST", "/accounts/{id}/sessions"): _ex(
        "agent", lambda s: Request(_a(s, "/sessions"), body={"device_id": "laptop-1"})
    ),
    ("GET", "/accounts/{id}/notifications"): _ex("owner", lambda s: Request(_a(s, "/notifications"))),
    ("GET", "/accounts/{id}/shared-logins"): _ex("owner", lambda s: Request(_a(s, "/shared-logins"))),
    ("GET", "/accounts/{id}/usage"): _ex("owner", lambda s: Request(_a(s, "/usage"), query=f"period={s.now:%Y-%m}")),
    ("GET", "/accounts/{id}/price-changes"): _ex("owner", lambda s: Request(_a(s, "/price-changes"))),
    # billing
    ("PUT", "/accounts/{id}/billing-details"): _ex(
        "owner", lambda s: Request(_a(s, "/billing-details"), body=billing_details(s.tag, company="Renamed Ltd"))
    ),
    ("GET", "/accounts/{id}/billing-details"): _ex(
        "owner", lambda s: Request(_a(s, "/billing-details")), "billing_details"
    ),
    ("PUT", "/accounts/{id}/payment-method"): _ex(
        "owner",
        lambda s: Request(_a(s, "/payment-method"), body={"type": "card", "token": "tok_visa"}),
        "billing_details",
    ),
    ("GET", "/accounts/{id}/invoices"): _ex("owner", lambda s: Request(_a(s, "/invoices")), "paid"),
    ("GET", "/accounts/{id}/invoices/{invoice_id}"): _ex(
        "owner", lambda s: Request(_a(s, f"/invoices/{s.invoice_id}")), "paid"
    ),
    ("POST", "/accounts/{id}/invoices/{invoice_id}/corrections"): _ex(
        "owner",
        lambda s: Request(
            _a(s, f"/invoices/{s.invoice_id}/corrections"),
            body={"billing_details": billing_details(s.tag, company="Corrected Ltd")},
        ),
        "paid",
    ),
    ("PUT", "/accounts/{id}/subscription"): _ex("owner", lambda s: Request(_a(s, "/subscription"), body={"seats": 5})),
    ("POST", "/accounts/{id}/subscription/preview"): _ex(
        "owner", lambda s: Request(_a(s, "/subscription/preview"), body={"seats": 5})
    ),
    ("GET", "/accounts/{id}/credit"): _ex("owner", lambda s: Request(_a(s, "/credit"))),
    ("POST", "/accounts/{id}/credit"): _ex(
        "owner", lambda s: Request(_a(s, "/credit"), body={"amount": {"amount": 10000, "currency": "USD"}}), "paid"
    ),
    # cancellation
    ("POST", "/accounts/{id}/cancel"): _ex("owner", lambda s: Request(_a(s, "/cancel"))),
    ("POST", "/accounts/{id}/cancellation-requests"): _ex("owner", lambda s: Request(_a(s, "/cancellation-requests"))),
    ("POST", "/admin/cancellation-requests/{request_id}/confirm"): _ex(
        "staff",
        lambda s: Request(f"/admin/cancellation-requests/{s.cancellation_request_id}/confirm"),
        "cancellation_request",
    ),
    # custom development
    ("GET", "/accounts/{id}/custom-requests"): _ex("owner", lambda s: Request(_a(s, "/custom-requests"))),
    ("POST", "/accounts/{id}/custom-requests"): _ex(
        "owner",
        lambda s: Request(
            _a(s, "/custom-requests"), body={"title": "An SLA report", "description": "Monthly SLA per agent."}
        ),
    ),
    ("GET", "/admin/custom-requests"): _ex(
        "staff", lambda s: Request("/admin/custom-requests", query="status=requested")
    ),
    ("POST", "/admin/custom-requests/{request_id}/approve"): _ex(
        "staff",
        lambda s: Request(
            f"/admin/custom-requests/{s.custom_request_id}/approve",
            body={"specification": "A nightly Jira import.", "price": {"amount": 120000, "currency": "USD"}},
        ),
        "custom_request",
    ),
    ("POST", "/admin/custom-requests/{request_id}/refuse"): _ex(
        "staff",
        lambda s: Request(f"/admin/custom-requests/{s.custom_request_id}/refuse", body={"reason": "Not in our plans."}),
        "custom_request",
    ),
    # vouchers
    ("POST", "/admin/campaigns"): _ex(
        "staff",
        lambda s: Request(
            "/admin/campaigns",
            body={
                "campaign_id": f"new-{s.tag}",
                "name": "Spring deal",
                "plan": "all-inclusive",
                "included_seats": 2,
                "price": {"amount": 5900, "currency": "USD"},
                "redeem_by": "2099-03-31T23:59:59",
                "time_zone": "Europe/Sofia",
            },
        ),
    ),
    ("GET", "/admin/campaigns/{id}"): _ex("staff", lambda s: Request(f"/admin/campaigns/{s.campaign_id}"), "campaign"),
    ("POST", "/admin/campaigns/{id}/codes"): _ex(
        "staff", lambda s: Request(f"/admin/campaigns/{s.campaign_id}/codes", body={"count": 2}), "campaign"
    ),
    ("POST", "/redemptions"): _ex(
        "public", lambda s: Request("/redemptions", body=registrant(f"{s.tag}-r", code=s.codes[0])), "campaign"
    ),
    ("POST", "/accounts/{id}/redemptions"): _ex(
        "owner", lambda s: Request(_a(s, "/redemptions"), body={"code": s.codes[1]}), "campaign"
    ),
    ("POST", "/admin/vouchers/{code}/revoke"): _ex(
        "staff",
        lambda s: Request(
            f"/admin/vouchers/{s.codes[2]}/revoke", body={"reason": "abuse", "evidence": "Resold on a forum."}
        ),
        "campaign",
    ),
    # signup
    ("POST", "/signups"): _ex("public", lambda s: Request("/signups", body=registrant(f"{s.tag}-s", plan="ticket"))),
    # staff actions
    ("POST", "/admin/accounts/{id}/suspend"): _ex("staff", lambda s: Request(_admin(s, "/suspend"), body=STAFF_ACTION)),
    ("POST", "/admin/accounts/{id}/reinstate"): _ex(
        "staff",
        lambda s: Request(_admin(s, "/reinstate"), body={"reason": "resolved", "details": "The owner stopped."}),
        "suspended",
    ),
    ("POST", "/admin/accounts/{id}/terminate"): _ex(
        "staff", lambda s: Request(_admin(s, "/terminate"), body=STAFF_ACTION)
    ),
    # shared logins
    ("POST", "/admin/accounts/{id}/shared-logins/{period}/waive"): _ex(
        "staff",
        lambda s: Request(_admin(s, f"/shared-logins/{s.fee_period}/waive"), body={"reason": "One family."}),
        "fee",
    ),
    # prices and terms
    ("GET", "/admin/prices"): _ex("staff", lambda s: Request("/admin/prices")),
    ("POST", "/admin/prices"): _ex(
        "staff",
        lambda s: Request(
            "/admin/prices",
            body={
                "plan": "ticket",
                "billing_period": "monthly",
                "price": {"amount": 4900, "currency": "USD"},
                # One change of a plan per instant: each scene its own second of the day, so
                # scenes made within one second (a benchmark's) do not take each other's.
                "effective_at": _iso(s.now + timedelta(days=40, seconds=zlib.crc32(s.tag.encode()) % 86400)),
            },
        ),
    ),
    ("GET", "/admin/terms"): _ex("staff", lambda s: Request("/admin/terms")),
    ("POST", "/admin/terms"): _ex("staff", lambda s: Request("/admin/terms", body={"version": f"v-{s.tag}"})),
    # usage
    ("PUT", "/admin/accounts/{id}/usage-limits"): _ex(
        "staff", lambda s: Request(_admin(s, "/usage-limits"), body={"tickets_per_month": 5000, "storage_bytes": None})
    ),
    ("POST", "/admin/accounts/{id}/usage"): _ex(
        "staff", lambda s: Request(_admin(s, "/usage"), body={"tickets": 12, "queries": 40, "end_users": 3})
    ),
    ("GET", "/admin/usage-flags"): _ex("staff", lambda s: Request("/admin/usage-flags", query="kind=usage")),
    # data protection: the subject's public routes
    ("POST", "/privacy/requests"): _ex(
        "public", lambda s: Request("/privacy/requests", body={"type": "access", "email": s.owner_email})
    ),
    ("POST", "/privacy/requests/{request_id}/verification"): _ex(
        "public",
        lambda s: Request(
            f"/privacy/requests/{s.privacy_request_id}/verification", query=f"token={s.verification_token}"
        ),
        "privacy_received",
    ),
    ("GET", "/privacy/exports/{request_id}"): _ex(
        "public",
        lambda s: Request(f"/privacy/exports/{s.export_request_id}", query=f"token={s.export_token}"),
        "export",
    ),
    # The payment provider's signed event (R-PAY-12), of a type the service has no use for: 200 ignored.
    ("POST", "/webhooks/payments"): _ex("public", lambda s: _signed_event(s)),
    ("POST", "/privacy/unsubscribe"): _ex(
        "public", lambda s: Request("/privacy/unsubscribe", query=f"token={s.unsubscribe_token}"), "unsubscribe"
    ),
    # data protection: staff's workflow
    ("GET", "/admin/privacy/requests"): _ex(
        "staff", lambda s: Request("/admin/privacy/requests", query="status=received")
    ),
    ("GET", "/admin/privacy/requests/{request_id}"): _ex(
        "staff", lambda s: Request(f"/admin/privacy/requests/{s.privacy_request_id}"), "privacy_received"
    ),
    ("POST", "/admin/privacy/requests/{request_id}/verify"): _ex(
        "staff",
        lambda s: Request(f"/admin/privacy/requests/{s.privacy_request_id}/verify", body={"note": "Called back."}),
        "privacy_received",
    ),
    ("POST", "/admin/privacy/requests/{request_id}/complete"): _ex(
        "staff",
        lambda s: Request(f"/admin/privacy/requests/{s.verified_request_id}/complete", body={}),
        "privacy_verified",
    ),
    ("POST", "/admin/privacy/requests/{request_id}/reject"): _ex(
        "staff",
        lambda s: Request(
            f"/admin/privacy/requests/{s.privacy_request_id}/reject", body={"reason": "We could not verify you."}
        ),
        "privacy_received",
    ),
}


def other_body(body: Any) -> Any:
    """A body unlike ``body`` (for an Idempotency-Key reused with another body)."""
    if isinstance(body, dict):
        return {**body, "idempotency_probe": "another body"}
    return {"idempotency_probe": "another body"}
