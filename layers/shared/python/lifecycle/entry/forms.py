"""HTML form bodies, for the one route a mail client posts to (R-GDPR-9, RFC 8058 one-click
unsubscribe): ``application/x-www-form-urlencoded`` or ``multipart/form-data`` (RFC 7578),
as API Gateway's HTTP API hands them over (base64 when ``isBase64Encoded``). The service
otherwise takes JSON only. A body that cannot be read yields no fields, never an error: what
it was meant to carry is then missing, and the caller answers that.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_TYPES = frozenset({URLENCODED, MULTIPART})

# A one-click body is one short field (RFC 8058 §3.2); these bound what a public route parses.
_MAX_FIELDS = 16
_MAX_FIELD_BYTES = 8192


def media_type(headers: Mapping[str, str]) -> str:
    """The request's media type, lower case, without parameters ("" when there is none)."""
    content_type = next((value for name, value in headers.items() if name.lower() == "content-type"), "")
    return content_type.split(";", 1)[0].strip().lower()


def body_bytes(event: Mapping[str, Any]) -> bytes:
    """The request body as sent: HTTP API base64-encodes every body that is not text (forms
    included); a body that is not valid base64 though flagged so is read as empty."""
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return str(body).encode("utf-8")
    try:
        return base64.b64decode(str(body), validate=True)
    except (binascii.Error, ValueError):
        return b""


def fields(body: bytes, content_type: str) -> dict[str, str]:
    """The form's fields by name (the first value of a repeated one), text decoded as UTF-8."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == URLENCODED:
        try:
            parsed = parse_qs(body.decode("utf-8", "replace"), max_num_fields=_MAX_FIELDS)
        except ValueError:  # more fields than a one-click form has
            return {}
        return {name: values[0] for name, values in parsed.items()}
    if kind == MULTIPART:
        return _multipart(body, content_type)
    return {}


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    """RFC 7578 by the ``multipart`` parser (strict, bounded); anything malformed yields nothing."""
    # Imported here: only this route reads multipart, and only when a mail client posts one.
    from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

    boundary = parse_options_header(content_type)[1].get("boundary")
    if not boundary:
        return {}
    found: dict[str, str] = {}
    name, chunks = "", list[bytes]()
    try:
        with PushMultipartParser(
            boundary,
            content_length=len(body),
            max_segment_count=_MAX_FIELDS,
            max_segment_size=_MAX_FIELD_BYTES,
            strict=True,
        ) as parser:
            # The body arrives whole; the empty chunk tells the parser it ends there.
            for event in itertools.chain(parser.parse(body), parser.parse(b"")):
                if isinstance(event, MultipartSegment):
                    name, chunks = event.name or "", []
                elif event is None:
                    found.setdefault(name, b"".join(chunks).decode("utf-8", "replace"))
                else:
                    chunks.append(event)
    except MultipartError:
        return {}
    return found
