"""No input yields a 500 on the public routes: wrong types, huge strings, unicode, missing fields.

Property-based: hypothesis builds request bodies around the real schema (every field
present, absent, or of the wrong type) plus arbitrary JSON and bytes; each answer must
be a 2xx or a 4xx problem document with a code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle.core.settings import Settings
from tests.support import call

FIELDS = {
    "full_name": st.text(max_size=300),
    "email": st.emails() | st.text(max_size=300),
    "company_name": st.text(max_size=300),
    "birth_date": st.dates().map(str) | st.text(max_size=20),
    "accept_terms": st.booleans(),
    "authority_to_bind": st.booleans(),
    "human_token": st.sampled_from(["human", "robot", ""]) | st.text(max_size=50),
    "website": st.none() | st.text(max_size=50),
    "subdomain": st.none() | st.text(max_size=70),
    "plan": st.sampled_from(["free", "ticket", "ticket-chat", "all-inclusive", "gold"]),
    "billing_period": st.sampled_from(["monthly", "annual", "weekly"]),
    "code": st.text(max_size=120),
}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@st.composite
def bodies(draw: st.DrawFn) -> Any:
    """Mostly schema-shaped bodies with each field kept, dropped or replaced by any JSON."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON_VALUES)
    body = {}
    for name, strategy in FIELDS.items():
        choice = draw(st.sampled_from(["keep", "keep", "keep", "drop", "garbage"]))
        if choice == "keep":
            body[name] = draw(strategy)
        elif choice == "garbage":
            body[name] = draw(JSON_VALUES)
    return body


def _assert_clean(reply: Any) -> None:
    assert reply.status < 500, (reply.status, reply.body)
    if reply.status >= 400:
        assert reply.headers["content-type"] == "application/problem+json"
        assert isinstance(reply.code, str)


@pytest.mark.parametrize("path", ["/signups", "/redemptions"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_any_json_body_gets_an_answer_never_a_500(tables: Settings, path: str, body: Any) -> None:
    _assert_clean(call("POST", path, raw_body=json.dumps(body).encode()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_any_bytes_get_an_answer_never_a_500(tables: Settings, raw: bytes) -> None:
    _assert_clean(call("POST", "/redemptions", raw_body=raw))
