"""Signed links by key id, person keys by their own secret, keyed hashes of rate-limited subjects.

The link signing secret is a JSON object of key id -> key (or one plain key, id ``legacy``);
``LINK_SIGNING_KEY_ID`` names the key links are signed with. A link names its key's id and is
verified with that key, so a rotation leaves the links already sent working while their key stays.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifecycle.core import errors
from lifecycle.core.settings import Settings
from lifecycle.privacy import privacy
from lifecycle.registration import rate_limit

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=72)
OLD_KEY = "old-key-0123456789abcdef"
NEW_KEY = "new-key-fedcba9876543210"
LAYER = Path(__file__).resolve().parents[2] / "layers" / "shared" / "python" / "lifecycle"


def keys(current: str, **by_id: str) -> Settings:
    return Settings(link_signing_secret=json.dumps(by_id), link_signing_key_id=current)


def body_of(token: str) -> dict[str, object]:
    payload = token.split(".", 1)[0]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def legacy_token(use: str, subject: str, expires: datetime | None, key: str) -> str:
    """A token as links were signed before they carried a key id (the format of sent emails)."""
    body = {"u": use, "s": subject, "e": int(expires.timestamp()) if expires else None}
    payload = base64.urlsafe_b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    text = payload.rstrip(b"=").decode()
    mac = base64.urlsafe_b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()).rstrip(b"=")
    return f"{text}.{mac.decode()}"


# ---------------------------------------------------------------- links by key id


def test_r_gdpr_10_a_link_is_signed_with_the_current_key_and_names_its_id() -> None:
    settings = keys("k2", k1=OLD_KEY, k2=NEW_KEY)
    token = privacy.sign("verify", "dsr_1", LATER, settings)
    assert body_of(token)["k"] == "k2"
    assert privacy.verify(token, "verify", NOW, settings) == "dsr_1"
    assert privacy.verify(token, "verify", NOW, keys("k2", k2=NEW_KEY)) == "dsr_1"
    with pytest.raises(errors.InvalidToken):
        privacy.verify(token, "verify", NOW, keys("k2", k2=OLD_KEY))  # another value under its id


def test_r_gdpr_9_after_a_rotation_links_signed_with_the_previous_key_still_verify() -> None:
    before = keys("k1", k1=OLD_KEY)
    unsubscribe = privacy.sign("unsubscribe", "person-1", None, before)
    export = privacy.sign("export", "dsr_2", LATER, before)
    after = keys("k2", k1=OLD_KEY, k2=NEW_KEY)
    assert privacy.verify(unsubscribe, "unsubscribe", NOW + timedelta(days=400), after) == "person-1"
    assert privacy.verify(export, "export", NOW, after) == "dsr_2"
    assert body_of(privacy.sign("export", "dsr_3", LATER, after))["k"] == "k2"


def test_r_gdpr_9_a_link_whose_key_was_retired_or_never_existed_is_invalid_token() -> None:
    token = privacy.sign("unsubscribe", "person-1", None, keys("k1", k1=OLD_KEY))
    with pytest.raises(errors.InvalidToken) as caught:
        privacy.verify(token, "unsubscribe", NOW, keys("k2", k2=NEW_KEY))
    assert (caught.value.status, caught.value.code) == (400, "invalid_token")
    # A key id the holder made up, with a MAC of a key they know, changes nothing.
    forged_body = {**body_of(token), "k": "k9"}
    payload = base64.urlsafe_b64encode(json.dumps(forged_body).encode()).rstrip(b"=").decode()
    with pytest.raises(errors.InvalidToken):
        privacy.verify(f"{payload}.{token.split('.')[1]}", "unsubscribe", NOW, keys("k1", k1=OLD_KEY))
    for bad_id in (7, None, ["k1"]):
        payload = base64.urlsafe_b64encode(json.dumps({**body_of(token), "k": bad_id}).encode()).decode()
        with pytest.raises(errors.InvalidToken):
            privacy.verify(f"{payload}.x", "unsubscribe", NOW, keys("k1", k1=OLD_KEY))


def test_r_gdpr_9_links_sent_before_key_ids_verify_with_the_legacy_key_only() -> None:
    """An unsubscribe link already in inboxes never expires: it keeps working while the key
    named ``legacy`` (the stack's old plain value) stays in the secret, whatever the current key."""
    sent = legacy_token("unsubscribe", "person-1", None, OLD_KEY)
    assert privacy.verify(sent, "unsubscribe", NOW, Settings(link_signing_secret=OLD_KEY)) == "person-1"
    assert privacy.verify(sent, "unsubscribe", NOW, keys("k2", legacy=OLD_KEY, k2=NEW_KEY)) == "person-1"
    with pytest.raises(errors.InvalidToken):
        privacy.verify(sent, "unsubscribe", NOW, keys("k2", k2=NEW_KEY))
    with pytest.raises(errors.InvalidToken):  # never the current key in its place
        privacy.verify(
            legacy_token("unsubscribe", "p", None, NEW_KEY), "unsubscribe", NOW, keys("k2", k1=OLD_KEY, k2=NEW_KEY)
        )


def test_a_plain_secret_is_the_key_named_legacy_and_signs_by_default() -> None:
    settings = Settings(link_signing_secret=OLD_KEY)
    assert privacy.signing_keys(settings) == {"legacy": OLD_KEY}
    token = privacy.sign("verify", "dsr_1", LATER, settings)
    assert body_of(token)["k"] == "legacy"
    assert privacy.verify(token, "verify", NOW, keys("k2", legacy=OLD_KEY, k2=NEW_KEY)) == "dsr_1"


@pytest.mark.parametrize(
    "stored",
    [
        '{"k1": "a-short-key"}',
        "{}" + " " * 14,
        '{"bad id!": "0123456789abcdef"}',
        "{not json, not a key either",
        '{"k1": 12345678901234567}',
    ],
)
def test_a_malformed_key_object_is_a_deployment_error_not_a_silent_key(stored: str) -> None:
    with pytest.raises(RuntimeError, match="link signing"):
        privacy.signing_keys(Settings(link_signing_secret=stored))


def test_signing_with_a_current_key_id_the_secret_lacks_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no key 'k3'"):
        privacy.sign("verify", "dsr_1", LATER, keys("k3", k1=OLD_KEY))


def test_a_deeply_nested_forged_payload_is_invalid_token_not_a_server_error() -> None:
    payload = base64.urlsafe_b64encode(b"[" * 1500).rstrip(b"=").decode()
    with pytest.raises(errors.InvalidToken):
        privacy.verify(f"{payload}.mac", "verify", NOW, Settings())


# ---------------------------------------------------------------- person keys


def test_r_gdpr_1_person_keys_come_from_the_person_key_secret_not_the_links() -> None:
    base = Settings(person_key_secret="person-key-0123456789", link_signing_secret=OLD_KEY)
    rotated_links = base.model_copy(
        update={"link_signing_secret": json.dumps({"k2": NEW_KEY}), "link_signing_key_id": "k2"}
    )
    assert privacy.person_key("Ana@Example.com", base) == privacy.person_key("Ana@Example.com", rotated_links)
    other = base.model_copy(update={"person_key_secret": "another-person-key-0123"})
    assert privacy.person_key("Ana@Example.com", base) != privacy.person_key("Ana@Example.com", other)
    expected = hmac.new(b"person-key-0123456789", b"ana@example.com", hashlib.sha256).hexdigest()[:40]
    assert privacy.person_key("Ana@Example.com", base) == expected


def test_r_gdpr_1_an_existing_stack_keeps_its_person_keys_when_the_old_link_value_is_copied() -> None:
    """Person keys stored before were keyed with the link secret's value: the same value as the
    person key secret (README "Secrets") finds the same records."""
    before_split = hmac.new(OLD_KEY.encode(), b"ana@example.com", hashlib.sha256).hexdigest()[:40]
    assert privacy.person_key("ana@example.com", Settings(person_key_secret=OLD_KEY)) == before_split


# ---------------------------------------------------------------- rate-limit counters


def test_r_reg_2_the_same_ip_under_two_keys_has_different_counters() -> None:
    one = rate_limit.counter_secret(Settings(person_key_secret="person-key-0123456789"))
    two = rate_limit.counter_secret(Settings(person_key_secret="person-key-9876543210"))
    subject = rate_limit.ip_subject("203.0.113.7")
    assert rate_limit.counter_key("signup-ip", 1, subject, one) != rate_limit.counter_key("signup-ip", 1, subject, two)
    assert rate_limit.counter_key("signup-ip", 1, subject, one) == rate_limit.counter_key("signup-ip", 1, subject, one)


def test_r_reg_2_a_counter_is_no_plain_hash_of_its_ip_or_email_nor_the_persons_key() -> None:
    settings = Settings()
    secret = rate_limit.counter_secret(settings)
    for subject in ("203.0.113.7", "ana@example.com"):
        digest = rate_limit.counter_key("s", 0, subject, secret).rsplit(":", 1)[1]
        assert digest != hashlib.sha256(subject.encode()).hexdigest()[:32]
        assert not privacy.person_key(subject, settings).startswith(digest)
    assert secret != settings.person_key_secret.encode()


IP_MODULES = ("registration/rate_limit.py", "registration/human_check.py", "usage/shared_logins.py")


@pytest.mark.parametrize("module", IP_MODULES)
def test_r_reg_2_no_module_handling_ips_hashes_anything_without_a_key(module: str) -> None:
    """A plain digest of an IP is reversible over the IPv4 space: in the modules that handle IPs,
    hashlib's functions only serve as HMAC's digest, never called on data."""
    tree = ast.parse((LAYER / module).read_text(encoding="utf-8"))
    plain = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "hashlib"
    ]
    assert plain == [], f"{module}: hashlib called on data at lines {plain}"
