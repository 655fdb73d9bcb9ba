"""Accounts coming into being over HTTP through the local runtime, races included."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import Runtime
from tests.route_examples import registrant

pytestmark = pytest.mark.e2e


def _campaign_with_codes(runtime: Runtime, count: int) -> tuple[str, list[str]]:
    staff = runtime.token("staff-1", None, "staff")
    campaign_id = runtime.create_campaign("race")
    codes = runtime.post(f"/admin/campaigns/{campaign_id}/codes", json={"count": count}, token=staff)
    assert codes.status_code == 201, codes.text
    return campaign_id, codes.json()["codes"]


def test_r_vouch_2_fifty_concurrent_redemptions_of_one_code_make_exactly_one_account(runtime: Runtime) -> None:
    campaign_id, (code,) = _campaign_with_codes(runtime, 1)
    tags = [uuid.uuid4().hex[:10] for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(lambda tag: runtime.post("/redemptions", json=registrant(tag, code=code)), tags))

    statuses = [reply.status_code for reply in replies]
    assert statuses.count(201) == 1, [reply.text for reply in replies if reply.status_code not in (201, 409)]
    assert statuses.count(409) == 49
    assert {reply.json()["code"] for reply in replies if reply.status_code == 409} == {"voucher_already_redeemed"}

    winner = next(reply.json() for reply in replies if reply.status_code == 201)
    # Counted from the Vouchers table's stream, within moments; exact however often it is delivered.
    campaign = runtime.campaign_counts(campaign_id, {"total": 1, "redeemed": 1, "abuse_signals": 49})
    assert campaign["counts_as_of"] is not None
    owner = runtime.token(winner["owner_id"], winner["id"], "owner")
    account = runtime.get(f"/accounts/{winner['id']}", token=owner)
    assert (account.status_code, account.json()["lifetime"]) == (200, True)


def test_r_vouch_1_a_campaigns_counts_reach_its_redemptions_from_the_stream_with_their_freshness(
    runtime: Runtime,
) -> None:
    campaign_id, codes = _campaign_with_codes(runtime, 3)
    staff = runtime.token("staff-1", None, "staff")
    fresh = runtime.get(f"/admin/campaigns/{campaign_id}", token=staff).json()
    assert (fresh["codes"], fresh["counts_as_of"]) == ({"total": 3, "redeemed": 0, "abuse_signals": 0}, None)
    tags = [uuid.uuid4().hex[:10] for _ in codes[:2]]
    for tag, code in zip(tags, codes[:2], strict=True):
        assert runtime.post("/redemptions", json=registrant(tag, code=code)).status_code == 201
    again = runtime.post("/redemptions", json=registrant(uuid.uuid4().hex[:10], code=codes[0]))
    assert (again.status_code, again.json()["code"]) == (409, "voucher_already_redeemed")

    campaign = runtime.campaign_counts(campaign_id, {"total": 3, "redeemed": 2, "abuse_signals": 1})
    assert campaign["counts_as_of"].endswith("Z")


def test_a_voucher_signup_then_a_trial_then_a_second_code_over_http(runtime: Runtime) -> None:
    _, codes = _campaign_with_codes(runtime, 2)
    tag = uuid.uuid4().hex[:10]
    lifetime = runtime.post("/redemptions", json=registrant(tag, code=codes[0].lower().replace("-", " ")))
    assert lifetime.status_code == 201, lifetime.text
    again = runtime.post("/redemptions", json=registrant(tag + "x", code=codes[0]))
    assert (again.status_code, again.json()["code"]) == (409, "voucher_already_redeemed")

    trial = runtime.post("/signups", json=registrant(tag + "t", plan="ticket-chat", billing_period="annual"))
    assert trial.status_code == 201, trial.text
    body = trial.json()
    assert (body["status"], body["billing_period"]) == ("trialing", "annual")
    owner = runtime.token(body["owner_id"], body["id"], "owner")
    applied = runtime.post(f"/accounts/{body['id']}/redemptions", json={"code": codes[1]}, token=owner)
    assert (applied.status_code, applied.json()["lifetime"]) == (200, True)
    other_owner = runtime.token("u", "acc_someone_else", "owner")
    assert runtime.get(f"/accounts/{body['id']}", token=other_owner).status_code == 404


def _named(tag: str, company_name: str, **changes: object) -> dict[str, object]:
    """A registration whose subdomain the service derives from ``company_name`` (unless
    ``changes`` name one)."""
    body = {key: value for key, value in registrant(tag).items() if key != "subdomain"}
    return {**body, "company_name": company_name, **changes}


def test_r_vouch_1_greek_chinese_and_bulgarian_company_names_get_their_subdomains_over_http(runtime: Runtime) -> None:
    _, (code,) = _campaign_with_codes(runtime, 1)
    tag = uuid.uuid4().hex[:10]
    greek = runtime.post("/signups", json=_named(f"el-{tag}", f"Ελληνικά Τρόφιμα {tag}", plan="ticket"))
    assert greek.status_code == 201, greek.text
    assert greek.json()["subdomain"] == f"ellinika-trofima-{tag}"

    chinese = runtime.post("/redemptions", json=_named(f"zh-{tag}", f"北京科技 {tag}", code=code))
    assert chinese.status_code == 201, chinese.text
    assert chinese.json()["subdomain"] == f"beijingkeji-{tag}"

    bulgarian = runtime.post("/signups", json=_named(f"bg-{tag}", f"България_{tag}", plan="ticket"))
    assert bulgarian.status_code == 201, bulgarian.text
    assert bulgarian.json()["subdomain"] == f"bulgaria-{tag}"


def test_r_vouch_1_a_company_name_of_only_emoji_is_a_validation_error_over_http(runtime: Runtime) -> None:
    tag = uuid.uuid4().hex[:10]
    refused = runtime.post("/signups", json=_named(f"emoji-{tag}", "😀😀😀", plan="ticket"))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "validation_error"
    assert [error["field"] for error in problem["errors"]] == ["company_name"]
    # Nothing was made: the same person signs up with a subdomain of their own.
    chosen = runtime.post("/signups", json=_named(f"emoji-{tag}", "😀😀😀", plan="ticket", subdomain=f"smile-{tag}"))
    assert chosen.status_code == 201, chosen.text
    assert chosen.json()["subdomain"] == f"smile-{tag}"
