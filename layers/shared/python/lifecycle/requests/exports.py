"""Access and portability exports (R-GDPR-3, R-GDPR-7): the JSON document of what is held about a subject
(portability: only what they provided), stored under ``exports/<request id>.json`` (a folder locally,
the S3 bucket in AWS), and its once-only download. docs/ARCHITECTURE.md "Data protection" (Exports).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

from pynamodb.attributes import MapAttribute
from pynamodb.exceptions import DoesNotExist
from pynamodb.models import Model

from lifecycle.core import clock, errors
from lifecycle.core.settings import Settings
from lifecycle.privacy import data_subjects, privacy
from lifecycle.privacy.data_subjects import Held
from lifecycle.privacy.personal_data import PersonalField, fields_of
from lifecycle.privacy.privacy import Completing
from lifecycle.storage import Account, PrivacyRequest, table_of
from lifecycle.storage.base import update_if

Scope = Literal["access", "portability"]
FORMAT_NAME = "helpdesk-personal-data-export"
FORMAT_VERSION = 1
KEY_PREFIX = "exports/"
_KEY = re.compile(r"^exports/[A-Za-z0-9_-]{1,100}\.json$")
# Checks a token's signature and use without its expiry, which is the request's (410, not 400).
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RECORD_RETRIES = 3
SCOPE_NOTES: dict[Scope, str] = {
    "access": "Every item of personal data held about you, in every table (GDPR Art. 15).",
    "portability": (
        "The personal data you provided to us, in a machine-readable format (GDPR Art. 20): "
        "what you gave on your own records, and what you gave as the owner of your accounts. "
        "Data the service recorded about your use (for example sessions and network addresses) "
        "is in an access export."
    ),
}


# ---------------------------------------------------------------- storage


class ExportStore(Protocol):
    """Where export documents wait for their one download."""

    def put(self, key: str, body: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The bytes, or ``None`` when there is no such object (deleted, expired)."""
        ...

    def delete(self, key: str) -> None:
        """Idempotent: deleting what is not there is not an error."""
        ...


def _checked(key: str) -> str:
    # Keys are made here from request ids; anything else is refused rather than resolved.
    if not _KEY.fullmatch(key):
        raise ValueError(f"not an export key: {key!r}")
    return key


class DiskStore:
    """A folder: the local runtime and the tests (``local_exports_path``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / _checked(key)

    def put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside, then renamed: a concurrent download never reads half a document.
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(handle, "wb") as out:
            out.write(body)
        os.replace(temporary, path)

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3Store:
    """The exports bucket in AWS; server-side encryption is the bucket's default."""

    def __init__(self, bucket: str, region: str | None = None) -> None:
        self.bucket = bucket
        self.region = region
        self._client: Any = None
        self._lock = threading.Lock()

    def _s3(self) -> Any:
        # Made on first use, not on import: most invocations of the functions never export.
        with self._lock:
            if self._client is None:
                import boto3

                self._client = boto3.client("s3", region_name=self.region)
            return self._client

    def put(self, key: str, body: bytes) -> None:
        self._s3().put_object(Bucket=self.bucket, Key=_checked(key), Body=body, ContentType="application/json")

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            reply = self._s3().get_object(Bucket=self.bucket, Key=_checked(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                return None
            raise
        body: bytes = reply["Body"].read()
        return body

    def delete(self, key: str) -> None:
        self._s3().delete_object(Bucket=self.bucket, Key=_checked(key))


@lru_cache(maxsize=4)
def _s3_store(bucket: str, region: str) -> S3Store:
    return S3Store(bucket, region)  # one client per warm Lambda


def store_for(settings: Settings) -> ExportStore:
    """The folder when ``local_exports_path`` is set, else the S3 bucket."""
    if settings.local_exports_path:
        return DiskStore(settings.local_exports_path)
    if not settings.exports_bucket:
        raise RuntimeError("neither LOCAL_EXPORTS_PATH nor EXPORTS_BUCKET is set")
    return _s3_store(settings.exports_bucket, settings.region)


def export_key(request_id: str) -> str:
    return _checked(f"{KEY_PREFIX}{request_id}.json")


# ---------------------------------------------------------------- the document


def plain(value: Any) -> Any:
    """A stored value as JSON: instants ISO with ``Z``, sets sorted lists, maps objects."""
    if isinstance(value, MapAttribute):
        value = value.as_dict()  # type: ignore[no-untyped-call]  # pynamodb
    if isinstance(value, datetime):
        return clock.to_iso(value)
    if isinstance(value, Mapping):
        return {str(name): plain(inner) for name, inner in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(plain(inner) for inner in value)
    if isinstance(value, list | tuple):
        return [plain(inner) for inner in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _has_value(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


def _account_of(item: Model) -> str | None:
    if isinstance(item, Account):
        return str(item.id)
    account_id = item.attribute_values.get("account_id")
    return account_id if isinstance(account_id, str) else None


def provided(held: Held, field: PersonalField, owned: frozenset[str]) -> bool:
    """R-GDPR-7: whether the subject provided ``field`` of ``held`` (GDPR Art. 20's scope)."""
    if held.relation == "addressee":  # another person's record that names their address
        return False
    if field.source == "data_subject":
        return True
    return field.source == "account_owner" and _account_of(held.item) in owned


def _names_nobody(name: str, value: Any, personal: set[str]) -> bool:
    if name in personal or name == "person_key" or value is None:
        return False
    return not (isinstance(value, str) and value.startswith(privacy.PERSON_NOTICES))


def record_key(held: Held) -> dict[str, Any]:
    """The item's key without personal data: its key attributes and account id, where they name nobody."""
    personal = {field.attribute for field in fields_of(held.model)}
    names = [
        name
        for name, attribute in held.model.get_attributes().items()
        if attribute.is_hash_key or attribute.is_range_key
    ]
    names += [name for name in ("account_id", "id") if name not in names]
    values = held.item.attribute_values
    return {name: plain(values[name]) for name in names if _names_nobody(name, values.get(name), personal)}


def _field_entry(field: PersonalField, value: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "value": value,
        "category": field.category,
        "source": field.source,
        "basis": field.basis,
    }
    if field.kept_by_law:
        entry["kept_by_law"] = True
    return entry


def record(held: Held, scope: Scope, owned: frozenset[str]) -> dict[str, Any] | None:
    """One held item in the export; ``None`` when a portability export has nothing of it."""
    data: dict[str, Any] = {}
    for field in fields_of(held.model):
        if scope == "portability" and not provided(held, field, owned):
            continue
        value = plain(held.item.attribute_values.get(field.attribute))
        if _has_value(value):
            data[field.attribute] = _field_entry(field, value)
    if scope == "portability" and not data:
        return None
    return {"relation": held.relation, "key": record_key(held), "data": data}


def _summary(tables: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    per_table: dict[str, Any] = {}
    for table, records in tables.items():
        entries = [entry for rec in records for entry in rec["data"].values()]
        per_table[table] = {
            "items": len(records),
            "categories": sorted({entry["category"] for entry in entries}),
            "sources": sorted({entry["source"] for entry in entries}),
        }
    return {
        "tables": per_table,
        "categories": sorted({c for table in per_table.values() for c in table["categories"]}),
        "sources": sorted({s for table in per_table.values() for s in table["sources"]}),
    }


def _grouped(held: Iterable[Held], scope: Scope, owned: frozenset[str]) -> dict[str, list[dict[str, Any]]]:
    tables: dict[str, list[dict[str, Any]]] = {}
    for item in held:
        rec = record(item, scope, owned)
        if rec is not None:
            tables.setdefault(table_of(item.model), []).append(rec)
    return dict(sorted(tables.items()))


def document(request: PrivacyRequest, scope: Scope, now: datetime, settings: Settings) -> dict[str, Any]:
    """R-GDPR-3 (access), R-GDPR-7 (portability): the export of the request's subject."""
    subject = data_subjects.find(request.email, settings)
    owned = frozenset(account.id for account in subject.owned)
    tables = _grouped(data_subjects.holdings(subject), scope, owned)
    return {
        "format": {"name": FORMAT_NAME, "version": FORMAT_VERSION, "media_type": "application/json"},
        "scope": scope,
        "scope_note": SCOPE_NOTES[scope],
        "request_id": request.id,
        "generated_at": clock.to_iso(now),
        "subject": {"email": subject.email},
        "summary": _summary(tables),
        "tables": tables,
    }


def encode(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


# ---------------------------------------------------------------- completing


def complete_access(completing: Completing) -> dict[str, Any]:
    """R-GDPR-3: every table's personal data of the subject, with categories and sources."""
    return _complete(completing, "access")


def complete_portability(completing: Completing) -> dict[str, Any]:
    """R-GDPR-7: what the subject provided, machine-readable (JSON)."""
    return _complete(completing, "portability")


def _load(request_id: str) -> PrivacyRequest | None:
    try:
        return PrivacyRequest.get(request_id, consistent_read=True)
    except DoesNotExist:
        return None


def _complete(completing: Completing, scope: Scope) -> dict[str, Any]:
    request = _load(completing.request.id) or completing.request
    if request.export_downloaded_at is not None:
        return _downloaded_result(request, scope)
    store = store_for(completing.settings)
    doc = document(request, scope, completing.now, completing.settings)
    key = export_key(request.id)
    store.put(key, encode(doc))
    recorded = _record_export(request, key, completing.now, completing.settings)
    if recorded.export_downloaded_at is not None:
        store.delete(key)  # downloaded meanwhile: what was just written must not wait in the store
        return _downloaded_result(recorded, scope)
    tables = {table: len(records) for table, records in doc["tables"].items()}
    return _ready_result(recorded, scope, tables, completing.settings)


def _expiry(request: PrivacyRequest, now: datetime, settings: Settings) -> datetime:
    """The first expiry while it lasts; a new one only when it has passed (whole seconds, as tokens)."""
    if request.export_expires_at is not None and request.export_expires_at > now:
        return request.export_expires_at
    return (now + timedelta(hours=settings.export_link_hours)).replace(microsecond=0)


def _record_export(request: PrivacyRequest, key: str, now: datetime, settings: Settings) -> PrivacyRequest:
    """Set the key and expiry on the request, conditionally: not downloaded, expiry as read."""
    for _ in range(RECORD_RETRIES):
        expires = _expiry(request, now, settings)
        as_read = (
            PrivacyRequest.export_expires_at.does_not_exist()
            if request.export_expires_at is None
            else PrivacyRequest.export_expires_at == request.export_expires_at
        )
        if update_if(
            request,
            [PrivacyRequest.export_key.set(key), PrivacyRequest.export_expires_at.set(expires)],
            PrivacyRequest.id.exists() & PrivacyRequest.export_downloaded_at.does_not_exist() & as_read,
        ):
            return request
        current = _load(request.id)
        if current is None:
            raise errors.NotFound("No such data subject request")
        request = current
        if request.export_downloaded_at is not None:
            return request
    raise errors.ServiceUnavailable("The request keeps changing; retry shortly")


def _link(request: PrivacyRequest, settings: Settings) -> tuple[str, str]:
    expires = request.export_expires_at
    assert expires is not None, "an export's expiry is recorded before its link is made"
    token = privacy.sign("export", request.id, expires, settings)
    return privacy.link(f"/privacy/exports/{request.id}", token, settings), clock.to_iso(expires)


def _what(scope: Scope) -> str:
    return "personal data export" if scope == "access" else "portable copy of the data you provided"


def _ready_result(request: PrivacyRequest, scope: Scope, tables: dict[str, int], settings: Settings) -> dict[str, Any]:
    url, expires_at = _link(request, settings)
    return {
        "summary": (
            f"Your {_what(scope)} is ready as a JSON file: download it from the link before "
            f"{_spoken(clock.parse_iso(expires_at))} UTC; the link works once."
        ),
        "download_url": url,
        "expires_at": expires_at,
        "export_key": request.export_key,
        "format": f"{FORMAT_NAME}/{FORMAT_VERSION} (JSON)",
        "scope": scope,
        "tables": tables,
    }


def _downloaded_result(request: PrivacyRequest, scope: Scope) -> dict[str, Any]:
    """A retry after the download: no link to give (the one given worked once)."""
    downloaded = request.export_downloaded_at
    assert downloaded is not None
    expires = request.export_expires_at
    return {
        "summary": (
            f"Your {_what(scope)} was downloaded on {_spoken(downloaded)} UTC; "
            "its link worked once and cannot be used again."
        ),
        "download_url": None,
        "expires_at": clock.to_iso(expires) if expires is not None else None,
        "downloaded_at": clock.to_iso(downloaded),
        "export_key": request.export_key,
        "format": f"{FORMAT_NAME}/{FORMAT_VERSION} (JSON)",
        "scope": scope,
    }


def _spoken(instant: datetime) -> str:
    return clock.to_iso(instant).replace("T", " ").removesuffix("Z")


# ---------------------------------------------------------------- the download


def _valid_request(request_id: str, token: str, now: datetime, settings: Settings) -> PrivacyRequest:
    """The request a genuine export token names; 400 for a forged, tampered or superseded token,
    410 when its export is expired or used."""
    if privacy.verify(token, "export", _EPOCH, settings) != request_id:  # genuine, for this request
        raise errors.InvalidToken()
    request = _load(request_id)
    if request is None:
        raise errors.InvalidToken()
    expires = request.export_expires_at
    if request.export_key is None or expires is None:
        raise errors.ExportUnavailable()  # none recorded (an erasure may have removed it)
    # The token must last as long as the export it is for: a link from before a renewed expiry is not.
    privacy.verify(token, "export", min(now, expires), settings)
    if now > expires or request.export_downloaded_at is not None:
        raise errors.ExportUnavailable()
    return request


def _mark_downloaded(request: PrivacyRequest, key: str, now: datetime) -> None:
    if not update_if(
        request,
        [PrivacyRequest.export_downloaded_at.set(now)],
        PrivacyRequest.export_downloaded_at.does_not_exist() & (PrivacyRequest.export_key == key),
    ):
        raise errors.ExportUnavailable()  # another download came first


def download(request_id: str, token: str, now: datetime, settings: Settings) -> bytes:
    """R-GDPR-3, R-GDPR-7: the export's JSON document, once.

    ``errors.InvalidToken`` (400) for a forged, tampered or superseded token or an unknown
    request; ``errors.ExportUnavailable`` (410) when expired, downloaded already, or lost
    to a concurrent download."""
    request = _valid_request(request_id, token, now, settings)
    key = str(request.export_key)
    store = store_for(settings)
    body = store.get(key)
    if body is None:
        raise errors.ExportUnavailable()
    _mark_downloaded(request, key, now)
    store.delete(key)
    return body
