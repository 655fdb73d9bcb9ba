"""Access and portability exports over moto (R-GDPR-3, R-GDPR-7) and their once-only download.

The world is test_data_subjects': Maria owns an account (an agent Petar, billing details, an
invoice, notices, sessions), is an agent of Ivan's account, has consents and a request.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings, get_settings
from lifecycle.privacy import data_subjects, privacy
from lifecycle.privacy.personal_data import fields_of
from lifecycle.requests import exports
from lifecycle.requests.exports import DiskStore, S3Store
from lifecycle.storage import AuditEvent, PrivacyRequest, SharedLoginDetection, table_of
from tests.support import call
from tests.unit.test_data_subjects import MARIA, World, at, maria_world, privacy_request
from tests.unit.test_signup import NOW

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
BUCKET = "exports-test"


pytestmark = pytest.mark.usefixtures("world")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """This test's own exports folder."""
    return get_settings().model_copy(update={"local_exports_path": str(tmp_path / "exports")})


@pytest.fixture
def s3_settings() -> Settings:
    """Exports in a moto bucket: no local folder."""
    boto3.client("s3", region_name="eu-central-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
    )
    return get_settings().model_copy(update={"local_exports_path": None, "exports_bucket": BUCKET})


def request_of(world: World) -> PrivacyRequest:
    return PrivacyRequest.get(world.request_id, consistent_read=True)


def completing(request: PrivacyRequest, settings: Settings, now: datetime | None = None) -> privacy.Completing:
    return privacy.Completing(request, now or clock.now(), settings, "stf_1")


def token_of(result: dict[str, Any]) -> str:
    return str(result["download_url"].partition("?token=")[2])


def access(world: World, settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """Complete the access request; its result and the downloaded document."""
    result = exports.complete_access(completing(request_of(world), settings))
    body = exports.download(world.request_id, token_of(result), clock.now(), settings)
    return result, json.loads(body)


def values_of(doc: dict[str, Any], table: str, attribute: str) -> list[Any]:
    return [rec["data"][attribute]["value"] for rec in doc["tables"].get(table, []) if attribute in rec["data"]]


# ---------------------------------------------------------------- R-GDPR-3: the access export


def test_r_gdpr_3_the_access_export_holds_every_tables_personal_data_with_categories_and_sources(
    settings: Settings,
) -> None:
    world = maria_world()
    result, doc = access(world, settings)

    tables = doc["tables"]
    for table in (
        "accounts",
        "users",
        "billing_details",
        "invoices",
        "notifications",
        "sessions",
        "consents",
        "privacy_requests",
        "claims",
        "audit",
    ):
        assert tables.get(table), f"{table} is missing from the export"
    assert values_of(doc, "accounts", "company_name") == ["Ясен ООД"]
    assert values_of(doc, "accounts", "owner_email") == [MARIA]
    assert sorted(values_of(doc, "users", "full_name")) == ["Maria Ivanova", "Maria Ivanova"]
    assert MARIA in values_of(doc, "billing_details", "email")  # Ivan's billing details name her
    assert sorted(values_of(doc, "consents", "email")) == [MARIA, MARIA]
    assert values_of(doc, "privacy_requests", "email") == [MARIA]
    assert set(values_of(doc, "notifications", "to")) == {MARIA}
    assert {"203.0.113.10", "192.0.2.44"} == set(values_of(doc, "sessions", "ip"))

    invoice = tables["invoices"][0]["data"]["billing_details"]
    assert invoice["kept_by_law"] is True
    assert (invoice["category"], invoice["source"], invoice["basis"]) == ("billing", "service", "legal_obligation")
    session = tables["sessions"][0]["data"]["ip"]
    assert (session["category"], session["source"], session["basis"]) == ("network", "service", "legitimate_interest")
    assert "kept_by_law" not in session

    summary = doc["summary"]
    assert summary["tables"]["billing_details"] == {
        "items": 2,
        "categories": ["billing"],
        "sources": ["data_subject"],
    }
    assert set(summary["categories"]) >= {"identity", "contact", "billing", "usage", "network"}
    assert set(summary["sources"]) >= {"data_subject", "account_owner", "service"}
    assert doc["format"] == {"name": "helpdesk-personal-data-export", "version": 1, "media_type": "application/json"}
    assert (doc["scope"], doc["request_id"]) == ("access", world.request_id)
    assert doc["generated_at"] == clock.to_iso(clock.now())
    assert doc["subject"] == {"email": MARIA}
    assert result["tables"] == {table: len(records) for table, records in tables.items()}


def test_r_gdpr_3_every_declared_attribute_with_a_value_is_exported(settings: Settings) -> None:
    """Driven by the inventory: nothing held about her, in any table, is left out."""
    world = maria_world()
    held = list(data_subjects.holdings(data_subjects.find(MARIA, get_settings())))
    _, doc = access(world, settings)

    expected: dict[str, int] = {}
    for h in held:
        for field in fields_of(h.model):
            if exports._has_value(exports.plain(h.item.attribute_values.get(field.attribute))):
                key = f"{table_of(h.model)}.{field.attribute}"
                expected[key] = expected.get(key, 0) + 1
    exported: dict[str, int] = {}
    for table, records in doc["tables"].items():
        for rec in records:
            for attribute in rec["data"]:
                exported[f"{table}.{attribute}"] = exported.get(f"{table}.{attribute}", 0) + 1
    assert exported == expected
    assert sum(len(records) for records in doc["tables"].values()) == len(held)


def test_r_gdpr_3_the_export_leaves_out_other_peoples_data_in_the_same_accounts(settings: Settings) -> None:
    world = maria_world()
    _, doc = access(world, settings)
    text = json.dumps(doc, ensure_ascii=False)

    for other in ("agent1@example.com", "Petar Georgiev", "198.51.100.7", "ivan@example.com", "203.0.113.99"):
        assert other not in text, f"{other} is another person's"
    assert "maria+deal@example.com" not in text
    assert "Gamma Ltd" not in text
    # Petar's user id (opaque, not personal data) is only in the audit event of her adding him.
    assert [table for table, recs in doc["tables"].items() if world.petar in json.dumps(recs)] == ["audit"]
    assert world.tagged["id"] not in text


def test_r_gdpr_3_keys_name_nobody(settings: Settings) -> None:
    world = maria_world()
    _, doc = access(world, settings)
    person_key = privacy.person_key(MARIA, get_settings())
    for table, records in doc["tables"].items():
        for rec in records:
            key_text = json.dumps(rec["key"])
            assert MARIA not in key_text, (table, rec["key"])
            assert person_key not in key_text, (table, rec["key"])
    assert {rec["key"]["purpose"] for rec in doc["tables"]["consents"]} == {"marketing", "customer_service"}
    assert all(rec["key"].get("account_id") for rec in doc["tables"]["claims"])
    assert doc["tables"]["accounts"][0]["key"] == {"id": world.own["id"]}


# ---------------------------------------------------------------- R-GDPR-7: machine-readable, portable


def test_r_gdpr_7_the_export_is_json_with_iso_instants_sorted_sets_and_maps_as_objects(settings: Settings) -> None:
    world = maria_world()
    own, owner = world.own["id"], world.own["owner_id"]
    SharedLoginDetection(
        own,
        f"2026-11-25T12:00:00Z#{owner}#2026-11-25",
        kind="detection",
        period_start=NOW,
        period_end=NOW + timedelta(days=30),
        user_id=owner,
        day="2026-11-25",
        devices={"pc", "laptop", "phone"},
        networks={"203.0.113.0/24", "192.0.2.0/24"},
        first_seen=NOW,
        last_seen=NOW,
        windows=2,
    ).save()
    AuditEvent(own, f"{clock.to_iso(NOW)}#x", type="note", actor=owner, at=NOW, details={"seats": 2}).save()
    result, doc = access(world, settings)

    (detection,) = doc["tables"]["shared_login_detections"]
    assert detection["data"]["devices"]["value"] == ["laptop", "pc", "phone"]
    assert detection["data"]["networks"]["value"] == ["192.0.2.0/24", "203.0.113.0/24"]
    assert {"seats": 2} in values_of(doc, "audit", "details")
    assert all(ISO.match(at_) for at_ in values_of(doc, "sessions", "at"))
    assert ISO.match(doc["generated_at"])
    assert ISO.match(result["expires_at"])
    assert isinstance(values_of(doc, "consents", "history")[0], list)


def portability(world: World, settings: Settings) -> dict[str, Any]:
    request = privacy_request(MARIA, "portability")
    result = exports.complete_portability(completing(request, settings))
    assert result["scope"] == "portability"
    assert result["download_url"]
    return dict(json.loads(exports.download(request.id, token_of(result), clock.now(), settings)))


def test_r_gdpr_7_portability_is_restricted_to_the_data_she_provided(settings: Settings) -> None:
    world = maria_world()
    doc = portability(world, settings)

    assert doc["scope"] == "portability"
    assert "Art. 20" in doc["scope_note"]
    sources = {entry["source"] for recs in doc["tables"].values() for rec in recs for entry in rec["data"].values()}
    assert sources <= {"data_subject", "account_owner"}
    assert values_of(doc, "accounts", "company_name") == ["Ясен ООД"]
    assert "terms_accepted_ip" not in doc["tables"]["accounts"][0]["data"]  # the service recorded it
    # Her User item in her own account (she gave it as the owner); not the one Ivan gave.
    (user,) = doc["tables"]["users"]
    assert user["key"] == {"account_id": world.own["id"], "user_id": world.own["owner_id"]}
    assert set(user["data"]) == {"full_name", "email"}
    # Her own billing details, not Ivan's naming her address; no observed data at all.
    assert [rec["key"]["account_id"] for rec in doc["tables"]["billing_details"]] == [world.own["id"]]
    for observed in ("sessions", "notifications", "claims", "invoices", "audit"):
        assert observed not in doc["tables"], observed
    assert set(values_of(doc, "consents", "email")) == {MARIA}
    assert "history" not in doc["tables"]["consents"][0]["data"]
    assert doc["summary"]["sources"] == sorted(sources)


# ---------------------------------------------------------------- the once-only download


def test_r_gdpr_3_the_result_has_a_signed_link_and_the_expiry(settings: Settings) -> None:
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    expires = (clock.now() + timedelta(hours=settings.export_link_hours)).replace(microsecond=0)

    assert result["expires_at"] == clock.to_iso(expires)
    assert result["download_url"].startswith(f"{settings.public_base_url}/privacy/exports/{world.request_id}?token=")
    assert privacy.verify(token_of(result), "export", clock.now(), settings) == world.request_id
    assert "once" in result["summary"]
    assert MARIA not in json.dumps(result)
    stored = request_of(world)
    assert (stored.export_key, stored.export_expires_at) == (f"exports/{world.request_id}.json", expires)
    assert (Path(str(settings.local_exports_path)) / f"exports/{world.request_id}.json").exists()


def test_r_gdpr_3_an_export_downloads_once_then_410(settings: Settings) -> None:
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    token = token_of(result)
    later = at(60)

    body = exports.download(world.request_id, token, later, settings)
    assert json.loads(body)["request_id"] == world.request_id
    assert request_of(world).export_downloaded_at == later
    assert DiskStore(str(settings.local_exports_path)).get(f"exports/{world.request_id}.json") is None  # deleted
    with pytest.raises(errors.ExportUnavailable):
        exports.download(world.request_id, token, at(61), settings)


def test_r_gdpr_3_an_expired_link_is_410_and_the_last_second_still_works(settings: Settings) -> None:
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    expires = clock.parse_iso(result["expires_at"])

    with pytest.raises(errors.ExportUnavailable):
        exports.download(world.request_id, token_of(result), expires + timedelta(seconds=1), settings)
    assert exports.download(world.request_id, token_of(result), expires, settings)


@pytest.mark.parametrize("how", ["tampered", "another_request", "another_use", "garbage", "unknown_request"])
def test_r_gdpr_3_a_wrong_or_tampered_token_is_invalid(settings: Settings, how: str) -> None:
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    token, request_id = token_of(result), world.request_id
    expires = clock.parse_iso(result["expires_at"])
    if how == "tampered":
        payload, _, mac = token.partition(".")
        token = f"{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{mac}"
    elif how == "another_request":
        token = privacy.sign("export", "dsr_other", expires, settings)
    elif how == "another_use":
        token = privacy.sign("verify", request_id, expires, settings)
    elif how == "garbage":
        token = "not-a-token"
    else:
        request_id = "dsr_unknown"
        token = privacy.sign("export", request_id, expires, settings)

    with pytest.raises(errors.InvalidToken):
        exports.download(request_id, token, clock.now(), settings)
    assert request_of(world).export_downloaded_at is None  # the real link still works
    assert exports.download(world.request_id, token_of(result), clock.now(), settings)


def test_r_gdpr_3_a_token_signed_with_another_secret_is_invalid(settings: Settings) -> None:
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), settings))
    other = settings.model_copy(update={"link_signing_secret": "another-secret-of-16+"})
    forged = privacy.sign("export", world.request_id, clock.parse_iso(result["expires_at"]), other)
    with pytest.raises(errors.InvalidToken):
        exports.download(world.request_id, forged, clock.now(), settings)


# ---------------------------------------------------------------- idempotent completion


def test_r_gdpr_3_a_retried_completion_keeps_the_link_and_refreshes_the_document(settings: Settings) -> None:
    world = maria_world()
    first = exports.complete_access(completing(request_of(world), settings))
    at(30)
    privacy_request(MARIA, "rectification")  # something new to export
    second = exports.complete_access(completing(request_of(world), settings))

    assert (second["download_url"], second["expires_at"]) == (first["download_url"], first["expires_at"])
    doc = json.loads(exports.download(world.request_id, token_of(first), clock.now(), settings))
    assert len(doc["tables"]["privacy_requests"]) == 2
    assert doc["generated_at"] == clock.to_iso(NOW + timedelta(minutes=30))


def test_r_gdpr_3_a_retry_after_the_download_does_not_make_it_downloadable_again(settings: Settings) -> None:
    world = maria_world()
    first = exports.complete_access(completing(request_of(world), settings))
    exports.download(world.request_id, token_of(first), at(5), settings)
    retried = exports.complete_access(completing(request_of(world), settings, at(6)))

    assert retried["downloaded_at"] == clock.to_iso(NOW + timedelta(minutes=5))
    assert retried["download_url"] is None  # no link to email again
    assert retried["expires_at"] == first["expires_at"]
    assert "cannot be used again" in retried["summary"]
    assert DiskStore(str(settings.local_exports_path)).get(f"exports/{world.request_id}.json") is None
    with pytest.raises(errors.ExportUnavailable):
        exports.download(world.request_id, token_of(first), at(7), settings)


def test_r_gdpr_3_a_retry_with_a_stale_request_copy_reads_the_stored_one(settings: Settings) -> None:
    """The action is given the request as it was read before completion; the store decides."""
    world = maria_world()
    stale = request_of(world)
    first = exports.complete_access(completing(request_of(world), settings))
    exports.download(world.request_id, token_of(first), at(5), settings)
    retried = exports.complete_access(completing(stale, settings, at(6)))
    assert "downloaded_at" in retried


def test_r_gdpr_3_a_retry_after_the_link_expired_unused_gives_a_new_link(settings: Settings) -> None:
    world = maria_world()
    first = exports.complete_access(completing(request_of(world), settings))
    later = clock.parse_iso(first["expires_at"]) + timedelta(hours=1)
    second = exports.complete_access(completing(request_of(world), settings, later))

    assert clock.parse_iso(second["expires_at"]) == later + timedelta(hours=settings.export_link_hours)
    with pytest.raises(errors.InvalidToken):  # the first link is superseded
        exports.download(world.request_id, token_of(first), later, settings)
    assert exports.download(world.request_id, token_of(second), later, settings)


# ---------------------------------------------------------------- the stores


def test_r_gdpr_3_the_s3_store_puts_gets_and_deletes_against_moto(s3_settings: Settings) -> None:
    store = S3Store(BUCKET, "eu-central-1")
    store.put("exports/dsr_1.json", b'{"a": 1}')
    assert store.get("exports/dsr_1.json") == b'{"a": 1}'
    head = boto3.client("s3", region_name="eu-central-1").head_object(Bucket=BUCKET, Key="exports/dsr_1.json")
    assert head["ContentType"] == "application/json"
    store.delete("exports/dsr_1.json")
    assert store.get("exports/dsr_1.json") is None
    store.delete("exports/dsr_1.json")  # idempotent


def test_r_gdpr_3_an_export_through_s3_downloads_once(s3_settings: Settings) -> None:
    world = maria_world()
    assert isinstance(exports.store_for(s3_settings), S3Store)
    result = exports.complete_access(completing(request_of(world), s3_settings))
    s3 = boto3.client("s3", region_name="eu-central-1")
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 1

    body = exports.download(world.request_id, token_of(result), clock.now(), s3_settings)
    assert json.loads(body)["subject"] == {"email": MARIA}
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
    with pytest.raises(errors.ExportUnavailable):
        exports.download(world.request_id, token_of(result), clock.now(), s3_settings)


def test_the_store_is_the_folder_when_a_local_path_is_set(settings: Settings) -> None:
    assert isinstance(exports.store_for(settings), DiskStore)
    with pytest.raises(RuntimeError):
        exports.store_for(settings.model_copy(update={"local_exports_path": None, "exports_bucket": ""}))


@pytest.mark.parametrize("key", ["../secrets.json", "exports/../../x.json", "/etc/passwd", "exports/a/b.json"])
def test_the_stores_refuse_keys_that_are_not_export_keys(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="not an export key"):
        DiskStore(tmp_path).put(key, b"x")


def test_r_gdpr_3_the_public_route_serves_the_export_once() -> None:
    """``GET /privacy/exports/{request_id}`` (functions/privacy) through this module's download."""
    world = maria_world()
    result = exports.complete_access(completing(request_of(world), get_settings()))
    path = f"/privacy/exports/{world.request_id}?token={token_of(result)}"

    first = call("GET", path)
    assert first.status == 200, first.body
    assert first.body["request_id"] == world.request_id
    again = call("GET", path)
    assert (again.status, again.code) == (410, "export_unavailable")
    tampered = call("GET", f"/privacy/exports/{world.request_id}?token=x{token_of(result)}")
    assert (tampered.status, tampered.code) == (400, "invalid_token")
