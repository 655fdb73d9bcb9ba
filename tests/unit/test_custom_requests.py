"""Custom development requests over moto (R-CUSTOM-1): the owner files one; staff approve it
with the agreed specification and the price agreed in advance, or refuse it; the results
belong to the vendor; a request is decided once and the owner is told of the decision.

Each test goes through the function the template routes the request to.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifecycle.core import clock
from lifecycle.storage import AuditEvent, CustomRequest, Notification
from tests.support import STAFF, Reply, call, deliver_notices, member, owner_of
from tests.unit.test_signup import TRIAL

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DECIDED = NOW + timedelta(days=2)
REQUEST = {"title": "Export tickets to our ERP", "description": "A nightly CSV export of the day's closed tickets."}
AGREED = {
    "specification": "Nightly CSV export of tickets closed that day, uploaded by SFTP at 02:00 UTC.",
    "price": {"amount": 120000, "currency": "USD"},
}


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def account() -> dict[str, Any]:
    reply = call("POST", "/signups", body=TRIAL)
    assert reply.status == 201, reply.body
    return dict(reply.body)


def file_request(account: dict[str, Any], claims: dict[str, Any] | None = None, **body: Any) -> Reply:
    claims = claims or owner_of(account)
    return call("POST", f"/accounts/{account['id']}/custom-requests", body={**REQUEST, **body}, claims=claims)


@pytest.fixture
def filed(account: dict[str, Any]) -> dict[str, Any]:
    reply = file_request(account)
    assert reply.status == 201, reply.body
    clock.set_now(DECIDED)
    return dict(reply.body)


def approve(request_id: str, claims: dict[str, Any] | None = STAFF, **body: Any) -> Reply:
    return call("POST", f"/admin/custom-requests/{request_id}/approve", body=body or AGREED, claims=claims)


def refuse(request_id: str, reason: str = "It needs access to systems we cannot support", **kw: Any) -> Reply:
    return call("POST", f"/admin/custom-requests/{request_id}/refuse", body={"reason": reason}, **kw)


def awaiting(claims: dict[str, Any] | None = STAFF) -> Reply:
    return call("GET", "/admin/custom-requests?status=requested", claims=claims)


def stored_status(decision: str) -> str:
    return {"approve": "approved", "refuse": "refused"}[decision]


def notices(account_id: str) -> list[Notification]:
    return [item for item in Notification.query(account_id) if item.type.startswith("custom_request")]


# ---------------------------------------------------------------- filing


def test_r_custom_1_the_owner_files_a_request_that_records_the_vendor_owns_the_results(
    account: dict[str, Any],
) -> None:
    reply = file_request(account)
    assert reply.status == 201, reply.body
    request = reply.body
    assert request["id"].startswith("cdr_")
    assert request == {
        "id": request["id"],
        "account_id": account["id"],
        "title": REQUEST["title"],
        "description": REQUEST["description"],
        "status": "requested",
        "results_owner": "vendor",
        "created_at": "2026-11-25T12:00:00Z",
        "created_by": account["owner_id"],
        "decided_at": None,
        "decided_by": None,
        "specification": None,
        "price": None,
        "refusal_reason": None,
    }
    assert CustomRequest.get(request["id"]).results_owner == "vendor"
    listed = call("GET", f"/accounts/{account['id']}/custom-requests", claims=owner_of(account))
    assert listed.body == {"items": [request]}
    assert awaiting().body == {"items": [request]}


def test_r_custom_1_the_owner_lists_the_accounts_requests_newest_first(account: dict[str, Any]) -> None:
    first = file_request(account, title="First").body
    clock.set_now(NOW + timedelta(minutes=1))
    second = file_request(account, title="Second").body
    listed = call("GET", f"/accounts/{account['id']}/custom-requests", claims=owner_of(account)).body["items"]
    assert [item["id"] for item in listed] == [second["id"], first["id"]]
    assert [item["id"] for item in awaiting().body["items"]] == [first["id"], second["id"]]  # a queue: oldest first


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "Two\nlines"}, "title"),
        ({"title": "t" * 201}, "title"),
        ({"description": "   "}, "description"),
        ({"results_owner": "customer"}, "results_owner"),
    ],
)
def test_r_custom_1_a_request_needs_a_one_line_title_and_a_description(
    account: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    reply = file_request(account, **body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == [field]


# ---------------------------------------------------------------- decisions


def test_r_custom_1_staff_approve_with_the_agreed_specification_and_price_in_cents(filed: dict[str, Any]) -> None:
    reply = approve(filed["id"])
    assert reply.status == 200, reply.body
    assert {key: reply.body[key] for key in ("status", "specification", "price", "results_owner")} == {
        "status": "approved",
        "specification": AGREED["specification"],
        "price": {"amount": 120000, "currency": "USD"},
        "results_owner": "vendor",
    }
    assert (reply.body["decided_at"], reply.body["decided_by"]) == ("2026-11-27T12:00:00Z", "staff-1")
    stored = CustomRequest.get(filed["id"])
    assert (stored.price_amount, stored.price_currency, stored.awaiting_decision) == (120000, "USD", None)
    assert awaiting().body == {"items": []}
    (event,) = [event for event in AuditEvent.query(filed["account_id"]) if event.type == "custom_request_approved"]
    assert event.details.as_dict() == {"request_id": filed["id"], "price_amount": 120000, "currency": "USD"}


def test_r_custom_1_the_owner_is_notified_of_the_approval_in_writing(filed: dict[str, Any]) -> None:
    approve(filed["id"])
    deliver_notices()
    (notice,) = notices(filed["account_id"])
    assert (notice.type, notice.to) == ("custom_request_approved", "maria@example.com")
    assert REQUEST["title"] in notice.subject
    assert AGREED["specification"] in notice.body
    assert "1,200.00 USD" in notice.body
    assert "exclusive intellectual property of the vendor" in notice.body
    assert notice.sent_at is not None


def test_r_custom_1_staff_refuse_with_a_reason_and_the_owner_is_told_why(filed: dict[str, Any]) -> None:
    reply = refuse(filed["id"], claims=STAFF)
    assert reply.status == 200, reply.body
    assert (reply.body["status"], reply.body["refusal_reason"]) == (
        "refused",
        "It needs access to systems we cannot support",
    )
    assert (reply.body["specification"], reply.body["price"]) == (None, None)
    (notice,) = notices(filed["account_id"])
    assert notice.type == "custom_request_refused"
    assert "The reason: It needs access to systems we cannot support." in notice.body
    assert awaiting().body == {"items": []}


@pytest.mark.parametrize("first", ["approve", "refuse"])
def test_r_custom_1_a_request_is_decided_once_a_second_decision_is_409(filed: dict[str, Any], first: str) -> None:
    decided = approve(filed["id"]) if first == "approve" else refuse(filed["id"], claims=STAFF)
    assert decided.status == 200
    for again in (approve(filed["id"], specification="Other", price={"amount": 1}), refuse(filed["id"], claims=STAFF)):
        assert (again.status, again.code, again.body["decision"]) == (409, "already_decided", stored_status(first))
    stored = CustomRequest.get(filed["id"])
    assert stored.status == stored_status(first)
    assert stored.price_amount == (120000 if first == "approve" else None)
    assert len(notices(filed["account_id"])) == 1


def test_r_custom_1_deciding_an_unknown_request_is_404() -> None:
    assert approve("cdr_missing").code == "not_found"
    assert refuse("cdr_missing", claims=STAFF).code == "not_found"
    assert CustomRequest.count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"specification": "Spec", "price": {"amount": 1200.5, "currency": "USD"}}, "price.amount"),
        ({"specification": "Spec", "price": {"amount": "1200", "currency": "USD"}}, "price.amount"),
        ({"specification": "Spec", "price": {"amount": -1, "currency": "USD"}}, "price"),
        ({"specification": "Spec", "price": {"amount": 100, "currency": "usd"}}, "price.currency"),
        ({"specification": "Spec"}, "price"),
        ({"specification": "", "price": {"amount": 100}}, "specification"),
    ],
)
def test_r_custom_1_an_approval_needs_a_specification_and_a_price_in_integer_cents(
    filed: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    reply = approve(filed["id"], **body)
    assert (reply.status, reply.code) == (422, "validation_error")
    assert [error["field"] for error in reply.body["errors"]] == [field]
    assert CustomRequest.get(filed["id"]).status == "requested"


# ---------------------------------------------------------------- roles


def test_r_custom_1_agents_and_admins_cannot_file_or_list_and_other_accounts_get_404(account: dict[str, Any]) -> None:
    path = f"/accounts/{account['id']}/custom-requests"
    for role in ("agent", "admin"):
        claims = member(account["id"], role, sub=f"usr_{role}")
        assert file_request(account, claims=claims).code == "forbidden"
        assert call("GET", path, claims=claims).code == "forbidden"
    stranger = member("acc_other", "owner")
    assert (file_request(account, claims=stranger).status, call("GET", path, claims=stranger).status) == (404, 404)
    assert file_request(account, claims=STAFF).code == "forbidden"
    assert call("GET", path, claims=None).status == 401
    assert CustomRequest.count() == 0


def test_r_custom_1_the_owner_cannot_decide_or_list_staffs_queue(filed: dict[str, Any]) -> None:
    owner = member(filed["account_id"], "owner", sub=filed["created_by"])
    assert approve(filed["id"], claims=owner).code == "forbidden"
    assert refuse(filed["id"], claims=owner).code == "forbidden"
    assert awaiting(claims=owner).code == "forbidden"
    assert CustomRequest.get(filed["id"]).status == "requested"
    assert notices(filed["account_id"]) == []


def test_r_custom_1_staff_reading_an_accounts_requests_is_audited(filed: dict[str, Any]) -> None:
    listed = call("GET", f"/accounts/{filed['account_id']}/custom-requests", claims=STAFF)
    assert [item["id"] for item in listed.body["items"]] == [filed["id"]]
    accesses = [e.details.as_dict() for e in AuditEvent.query(filed["account_id"]) if e.type == "staff_access"]
    assert accesses == [{"resource": "custom_requests"}]


def test_r_custom_1_a_decision_made_meanwhile_wins_and_the_later_one_is_409_with_nothing_written(
    filed: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision, its audit event and the owner's notice are one transaction on the request
    as read: another decision landing between the read and the write fails it whole."""
    import lifecycle.requests.custom_requests

    real_notice = lifecycle.requests.custom_requests._decision_notice

    def notice_while_staff_refuse(*args: Any) -> Any:
        CustomRequest(filed["id"]).update(
            actions=[CustomRequest.status.set("refused"), CustomRequest.awaiting_decision.remove()]
        )
        return real_notice(*args)

    monkeypatch.setattr(lifecycle.requests.custom_requests, "_decision_notice", notice_while_staff_refuse)
    late = approve(filed["id"])
    assert (late.status, late.code, late.body["decision"]) == (409, "already_decided", "refused")
    assert CustomRequest.get(filed["id"]).price_amount is None
    assert notices(filed["account_id"]) == []
    assert [e.type for e in AuditEvent.query(filed["account_id"]) if e.type.startswith("custom_request")] == []
