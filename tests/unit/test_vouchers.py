"""Voucher codes (RULES.md §3): normalising, keyed hashing, generation and import over moto."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from pydantic import ValidationError
from pynamodb.exceptions import PutError

from lifecycle.core.errors import NotFound
from lifecycle.core.settings import Settings
from lifecycle.storage import Campaign, Voucher
from lifecycle.vouchers import vouchers
from lifecycle.vouchers.campaigns import CampaignInput, create_campaign, get_or_default
from lifecycle.vouchers.vouchers import (
    CODE_ALPHABET,
    MAX_CODES_PER_REQUEST,
    CodesInput,
    InvalidVoucherCode,
    add_codes,
    code_hash,
    generate_codes,
    normalise_code,
)
from tests.unit.test_campaigns import TERMS_DEAL

PEPPER = "a-pepper-of-16-chars-at-least"
GENERATED = re.compile(rf"^[{CODE_ALPHABET}]{{4}}(-[{CODE_ALPHABET}]{{4}}){{3}}$")


@pytest.fixture
def serial_writers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small transactions written one at a time: several chunks on moto, whose in-process
    DynamoDB is not thread-safe (the parallel writers run against DynamoDB Local)."""
    monkeypatch.setattr(vouchers, "TRANSACTION_SIZE", 3)
    monkeypatch.setattr(vouchers, "WRITERS", 1)


def _stored(code: str, settings: Settings) -> Voucher:
    return Voucher.get(code_hash(code, settings.voucher_pepper), consistent_read=True)


# ---------------------------------------------------------------- normalising


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("ABCD-EFGH-2345", "ABCDEFGH2345"),
        ("abcd-efgh-2345", "ABCDEFGH2345"),
        ("  abcd efgh_2345 \t", "ABCDEFGH2345"),
        ("abcd\u2013efgh\u20142345", "ABCDEFGH2345"),  # dashes a word processor substitutes
        ("A1B2C3", "A1B2C3"),
        ("X" * 64, "X" * 64),
    ],
)
def test_case_spaces_dashes_and_underscores_do_not_matter(raw: str, normal: str) -> None:
    assert normalise_code(raw) == normal
    assert normalise_code(normal) == normal


@pytest.mark.parametrize(
    "raw",
    ["", "----", "ab-c-d", "ABCDE", "X" * 65, "ABCD.EFGH", "ABCD/EFGH", "ÄBCDEFGH", "\u00dfABCDEF", "ABCD\x00EFGH"],
)
def test_anything_else_is_not_a_code(raw: str) -> None:
    with pytest.raises(InvalidVoucherCode):
        normalise_code(raw)


def test_an_invalid_code_is_a_value_error_so_validation_reports_it() -> None:
    assert issubclass(InvalidVoucherCode, ValueError)


# ---------------------------------------------------------------- hashing


def test_the_stored_key_is_a_keyed_hash_of_the_normalised_code_never_the_code() -> None:
    key = code_hash("abcd-efgh-2345", PEPPER)
    expected = hmac.new(PEPPER.encode(), b"ABCDEFGH2345", hashlib.sha256).hexdigest()
    assert key == expected
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert "ABCDEFGH2345" not in key.upper()
    assert key != hashlib.sha256(b"ABCDEFGH2345").hexdigest()  # unkeyed, a guess could be checked


def test_every_spelling_of_a_code_has_the_same_key() -> None:
    assert code_hash("abcd efgh 2345", PEPPER) == code_hash("ABCD-EFGH-2345", PEPPER)


def test_another_pepper_gives_another_key() -> None:
    assert code_hash("ABCD-EFGH-2345", PEPPER) != code_hash("ABCD-EFGH-2345", PEPPER + "-other")


# ---------------------------------------------------------------- generating


def test_generated_codes_are_unambiguous_grouped_and_distinct() -> None:
    codes = generate_codes(MAX_CODES_PER_REQUEST)
    assert len(codes) == len(set(codes)) == MAX_CODES_PER_REQUEST
    assert all(GENERATED.match(code) for code in codes)
    used = set("".join(codes).replace("-", ""))
    assert used == set(CODE_ALPHABET)  # 160,000 draws use every letter of the alphabet...
    assert not used & set("0O1IL")  # ...and none that could be misread
    assert len({normalise_code(code) for code in codes}) == MAX_CODES_PER_REQUEST


def test_generated_codes_come_from_the_system_random_source(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: list[str] = []

    def choice(alphabet: str) -> str:
        drawn.append(alphabet)
        return alphabet[len(drawn) % len(alphabet)]

    monkeypatch.setattr(vouchers.secrets, "choice", choice)
    assert GENERATED.match(generate_codes(1)[0])
    assert drawn == [CODE_ALPHABET] * 16


# ---------------------------------------------------------------- the request


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"codes": ["ABCDEFGH"], "count": 3},
        {"codes": None, "count": None},
        {"count": 0},
        {"count": MAX_CODES_PER_REQUEST + 1},
        {"codes": []},
        {"codes": ["ABCDEFGH"] * (MAX_CODES_PER_REQUEST + 1)},
        {"codes": ["ABC"]},
        {"codes": ["A" * 201]},
        {"count": 3, "campaign_id": "x"},
    ],
)
def test_a_request_gives_codes_or_a_count_within_the_limits(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CodesInput.model_validate(body)


def test_the_largest_requests_are_accepted() -> None:
    assert CodesInput.model_validate({"count": MAX_CODES_PER_REQUEST}).count == MAX_CODES_PER_REQUEST
    many = CodesInput.model_validate({"codes": [f"CODE{n:06d}" for n in range(MAX_CODES_PER_REQUEST)]})
    assert len(many.codes or []) == MAX_CODES_PER_REQUEST


def test_add_codes_itself_refuses_both_neither_and_too_many(tables: Settings, frozen_now: datetime) -> None:
    with pytest.raises(ValueError, match="either"):
        add_codes("appsumo-2019", codes=["ABCDEFGH"], count=1, now=frozen_now)
    with pytest.raises(ValueError, match="either"):
        add_codes("appsumo-2019", now=frozen_now)
    with pytest.raises(ValueError, match="at most"):
        add_codes("appsumo-2019", codes=["ABCDEFGH"] * (MAX_CODES_PER_REQUEST + 1), now=frozen_now)


# ---------------------------------------------------------------- importing


def test_imported_codes_are_stored_under_their_keys_with_the_campaign_terms(
    tables: Settings, frozen_now: datetime
) -> None:
    result = add_codes("appsumo-2019", codes=["abcd-efgh-2345", "WXYZ-2345-6789"], now=frozen_now)
    assert result.model_dump() == {"campaign_id": "appsumo-2019", "added": 2, "duplicates": 0, "codes": []}

    item = _stored("ABCDEFGH2345", tables)
    assert item.code_hash != "ABCDEFGH2345"
    assert (item.campaign_id, item.plan, item.included_seats) == ("appsumo-2019", "all-inclusive", 2)
    assert (item.price_amount, item.price_currency) == (5900, "USD")
    assert item.imported_at == frozen_now
    assert (item.redeemed_at, item.account_id, item.revoked_at) == (None, None, None)
    assert Campaign.get("appsumo-2019").codes_total == 2


def test_with_another_pepper_the_same_code_is_another_item(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_codes("appsumo-2019", codes=["ABCDEFGH2345"], now=frozen_now)
    other = tables.model_copy(update={"voucher_pepper": PEPPER})
    monkeypatch.setattr(vouchers, "get_settings", lambda: other)
    assert add_codes("appsumo-2019", codes=["ABCDEFGH2345"], now=frozen_now).added == 1
    keys = {item.code_hash for item in Voucher.scan()}
    assert keys == {code_hash("ABCDEFGH2345", tables.voucher_pepper), code_hash("ABCDEFGH2345", PEPPER)}


def test_r_vouch_3_codes_are_redeemable_until_one_second_after_the_deadline_in_the_campaign_time_zone(
    tables: Settings, frozen_now: datetime
) -> None:
    """R-VOUCH-3: the last second before the deadline counts; the end is the next second."""
    sofia = CampaignInput.model_validate({**TERMS_DEAL, "campaign_id": "sofia", "time_zone": "Europe/Sofia"})
    create_campaign(sofia, created_by="staff-1", now=frozen_now)
    add_codes("sofia", codes=["SOFIA-0001"], now=frozen_now)
    add_codes("appsumo-2019", codes=["UTC-00001"], now=frozen_now)

    # 2019-11-30T23:59:59 in Sofia (UTC+2) is 21:59:59Z; in UTC, 23:59:59Z.
    assert _stored("SOFIA-0001", tables).redeemable_until == datetime(2019, 11, 30, 22, 0, 0, tzinfo=UTC)
    assert _stored("UTC-00001", tables).redeemable_until == datetime(2019, 12, 1, 0, 0, 0, tzinfo=UTC)


def test_duplicates_within_the_request_are_written_once(tables: Settings, frozen_now: datetime) -> None:
    codes = ["ABCD-EFGH-2345", "abcd efgh 2345", "ABCDEFGH2345", "WXYZ-2345-6789"]
    result = add_codes("appsumo-2019", codes=codes, now=frozen_now)
    assert (result.added, result.duplicates) == (2, 2)
    assert Voucher.count() == 2
    assert Campaign.get("appsumo-2019").codes_total == 2


@pytest.mark.usefixtures("serial_writers")
def test_codes_already_stored_are_duplicates_and_the_rest_are_added(tables: Settings, frozen_now: datetime) -> None:
    first = [f"FIRST-{n:04d}" for n in range(7)]
    add_codes("appsumo-2019", codes=first, now=frozen_now)

    mixed = [*first[2:5], *[f"LATER-{n:04d}" for n in range(5)], first[2].lower()]
    result = add_codes("appsumo-2019", codes=mixed, now=frozen_now)
    assert (result.added, result.duplicates) == (5, 4)
    assert Voucher.count() == 12
    assert Campaign.get("appsumo-2019").codes_total == 12


def test_a_redeemed_code_is_never_overwritten_by_a_reimport(tables: Settings, frozen_now: datetime) -> None:
    add_codes("appsumo-2019", codes=["REDEEMED-1"], now=frozen_now)
    redeemed_at = datetime(2019, 10, 1, 9, 0, tzinfo=UTC)
    _stored("REDEEMED-1", tables).update(
        actions=[Voucher.redeemed_at.set(redeemed_at), Voucher.account_id.set("acc-1")]
    )
    staff_deal = CampaignInput.model_validate({**TERMS_DEAL, "campaign_id": "other", "included_seats": 9})
    create_campaign(staff_deal, created_by="staff-1", now=frozen_now)

    later = datetime(2026, 12, 1, tzinfo=UTC)
    for campaign_id in ("appsumo-2019", "other"):
        result = add_codes(campaign_id, codes=["redeemed 1"], now=later)
        assert (result.added, result.duplicates) == (0, 1)

    item = _stored("REDEEMED-1", tables)
    assert (item.redeemed_at, item.account_id) == (redeemed_at, "acc-1")
    assert (item.campaign_id, item.included_seats, item.imported_at) == ("appsumo-2019", 2, frozen_now)
    assert Campaign.get("other").codes_total == 0


@pytest.mark.usefixtures("serial_writers")
def test_a_chunk_contended_by_another_importer_is_written_code_by_code(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_codes("appsumo-2019", codes=["SEEN-0001", "SEEN-0002"], now=frozen_now)

    def contended(*_: object) -> list[str]:
        raise vouchers._Contended

    monkeypatch.setattr(vouchers, "_transact", contended)
    result = add_codes("appsumo-2019", codes=["SEEN-0001", "NEW-00001", "SEEN-0002", "NEW-00002"], now=frozen_now)
    assert (result.added, result.duplicates) == (2, 2)
    assert Campaign.get("appsumo-2019").codes_total == 4


def test_a_single_put_racing_a_transaction_is_retried(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    conflict = ClientError({"Error": {"Code": "TransactionConflictException"}}, "PutItem")
    real_save = Voucher.save
    calls: list[int] = []

    def save_after_a_conflict(item: Voucher, *args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            raise PutError("conflict", cause=conflict)
        return real_save(item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vouchers.time, "sleep", lambda _: None)
    monkeypatch.setattr(Voucher, "save", save_after_a_conflict)
    campaign = get_or_default("appsumo-2019", frozen_now)
    item = vouchers._voucher(code_hash("RETRY-001", tables.voucher_pepper), campaign, frozen_now)
    assert vouchers._put_if_new(item) is True
    assert vouchers._put_if_new(item) is False  # now it exists
    assert len(calls) == 3


@pytest.mark.usefixtures("serial_writers")
def test_codes_written_before_a_failure_are_still_counted(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_transact = vouchers._transact
    chunks: list[int] = []

    def fail_the_second_chunk(connection: object, items: list[Voucher]) -> list[str]:
        chunks.append(len(items))
        if len(chunks) == 2:
            raise RuntimeError("DynamoDB went away")
        return real_transact(connection, items)  # type: ignore[arg-type]

    monkeypatch.setattr(vouchers, "_transact", fail_the_second_chunk)
    with pytest.raises(RuntimeError, match="went away"):
        add_codes("appsumo-2019", codes=[f"PART-{n:04d}" for n in range(7)], now=frozen_now)
    assert Voucher.count() == Campaign.get("appsumo-2019").codes_total == 4


@pytest.mark.usefixtures("serial_writers")
def test_codes_put_one_by_one_before_a_failure_are_still_counted(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def contended(*_: object) -> list[str]:
        raise vouchers._Contended

    real_save = Voucher.save
    puts: list[int] = []

    def fail_the_second_put(item: Voucher, *args: object, **kwargs: object) -> object:
        puts.append(1)
        if len(puts) == 2:
            raise PutError("boom", cause=ClientError({"Error": {"Code": "InternalServerError"}}, "PutItem"))
        return real_save(item, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vouchers, "_transact", contended)
    monkeypatch.setattr(Voucher, "save", fail_the_second_put)
    with pytest.raises(PutError):
        add_codes("appsumo-2019", codes=["ONE-00001", "TWO-00002", "THREE-0003"], now=frozen_now)
    assert Voucher.count() == Campaign.get("appsumo-2019").codes_total == 1


# ---------------------------------------------------------------- generating into a campaign


def test_generated_codes_are_returned_once_and_stored_only_as_keys(tables: Settings, frozen_now: datetime) -> None:
    result = add_codes("appsumo-2019", count=25, now=frozen_now)
    assert (result.added, result.duplicates, len(result.codes)) == (25, 0, 25)
    assert all(GENERATED.match(code) for code in result.codes)
    keys = {item.code_hash for item in Voucher.scan()}
    assert keys == {code_hash(code, tables.voucher_pepper) for code in result.codes}
    assert not keys & {normalise_code(code) for code in result.codes}
    assert Campaign.get("appsumo-2019").codes_total == 25


def test_a_generated_code_that_already_exists_is_not_handed_out(
    tables: Settings, frozen_now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_codes("appsumo-2019", codes=["TAKN-TAKN-TAKN-TAKN"], now=frozen_now)
    monkeypatch.setattr(vouchers, "generate_codes", lambda count: ["TAKN-TAKN-TAKN-TAKN", "FRSH-FRSH-FRSH-FRSH"])
    result = add_codes("appsumo-2019", count=2, now=frozen_now)
    assert (result.added, result.duplicates, result.codes) == (1, 1, ["FRSH-FRSH-FRSH-FRSH"])


def test_codes_go_only_into_a_campaign_that_exists(tables: Settings, frozen_now: datetime) -> None:
    with pytest.raises(NotFound):
        add_codes("no-such-deal", count=1, now=frozen_now)
    assert Voucher.count() == 0
