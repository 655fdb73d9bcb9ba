"""Domain errors. Logic raises them; ``lifecycle.http`` maps them to problem+json once.

Each class carries the stable ``code`` of shared/spec/API.md and its HTTP status.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # Extra members of the problem document (e.g. a suggested subdomain).
        self.extra = extra
        self.headers: dict[str, str] = {}


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Not allowed for this role"


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class CampaignExists(Conflict):
    code = "campaign_exists"
    title = "A campaign with this id already exists"


class IdempotencyKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "Idempotency-Key reused with a different request"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    title = "A request with this Idempotency-Key is still being processed"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = "1"


class UnsupportedMediaType(DomainError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ServiceUnavailable(DomainError):
    status = 503
    code = "service_unavailable"
    title = "Temporarily unavailable, retry later"

    def __init__(self, detail: str | None = None, retry_after: int = 1, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.headers["Retry-After"] = str(retry_after)
