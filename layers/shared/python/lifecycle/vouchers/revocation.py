"""Revoking an abused voucher (R-VOUCH-11).

The code's account loses access (``suspended``, reason ``voucher_revoked``); the other
accounts the same owner created with other codes are marked for removal, which the
purge procedure (R-TERM-3) carries out. The owner of each is notified (``voucher_revoked``,
``account_marked_for_removal``), once: a rerun finds them already blocked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from lifecycle import notifications
from lifecycle.accounts import audit
from lifecycle.core import errors, notices, secrets
from lifecycle.core.notices import NoticeType
from lifecycle.core.observability import logger
from lifecycle.core.settings import Settings, get_settings
from lifecycle.storage import Account, Voucher
from lifecycle.storage import accounts as stored_accounts
from lifecycle.storage.accounts import AccountStatus
from lifecycle.storage.base import shard_of, update_if
from lifecycle.vouchers.vouchers import InvalidVoucherCode, code_hash, normalise_code

VOUCHER_REVOKED = "voucher_revoked"


class RevokeInput(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Literal["abuse", "fraud"] = Field(description="abuse: R-VOUCH-2 signals; fraud: other evidence")
    evidence: Annotated[str, Field(min_length=1, max_length=4000, description="for staff, kept in the audit")]


class Revocation(BaseModel):
    campaign_id: str
    account_id: str | None
    marked_for_removal: list[str]


def _voucher(raw_code: str, settings: Settings) -> Voucher:
    try:
        return Voucher.get(code_hash(normalise_code(raw_code), secrets.voucher_pepper(settings)), consistent_read=True)
    except (InvalidVoucherCode, DoesNotExist) as exc:
        raise errors.VoucherNotFound("No such voucher code") from exc


def _block(account_id: str, status: str, now: datetime, purge: bool) -> bool:
    """Block the account; False if it no longer exists (already purged)."""
    actions: list[Action] = [Account.status.set(status), Account.access_blocked_reason.set(VOUCHER_REVOKED)]
    if purge:
        actions.append(Account.purge_after.set(now))
        actions.append(Account.purge_shard.set(shard_of(account_id, get_settings().sweep_shards)))
    return update_if(Account(account_id), actions, Account.id.exists())


def _other_voucher_accounts(account: Account) -> list[Account]:
    """The same owner's other accounts created with a code (R-VOUCH-11), via the owner-email index."""
    if not account.owner_email_canonical:
        return []
    others = []
    for key in stored_accounts.keys_by_owner_email(account.owner_email_canonical):
        if key.id == account.id:
            continue
        other = Account.get(key.id, consistent_read=True)
        if other.voucher_code_hash is not None:
            others.append(other)
    return others


def _notify_owner(account: Account, type: NoticeType, now: datetime, **facts: object) -> None:
    """R-VOUCH-11: the account's owner is told what happened to it and why."""
    if not account.owner_email:
        logger.warning("no owner email to notify", extra={"account_id": account.id, "notice_type": type})
        return
    notifications.notify(account.id, type, account.owner_email, now, subdomain=account.subdomain or account.id, **facts)


def _remove_others(account: Account, staff_id: str, now: datetime, reason: str) -> list[str]:
    """Mark the owner's other voucher accounts for removal (R-VOUCH-11); each owner is told once."""
    removed = []
    for other in _other_voucher_accounts(account):
        if not _block(other.id, AccountStatus.TERMINATED, now, purge=True):
            continue
        audit.event(other.id, "marked_for_removal", staff_id, now, because_of=account.id).save()
        removed.append(other.id)
        if other.purge_after is None:
            revoked = account.subdomain or account.id
            _notify_owner(other, "account_marked_for_removal", now, revoked_subdomain=revoked, reason=reason)
    return removed


def revoke(raw_code: str, form: RevokeInput, staff_id: str, now: datetime, settings: Settings) -> Revocation:
    """R-VOUCH-11. Running it again for the same code changes nothing more."""
    voucher = _voucher(raw_code, settings)
    if voucher.revoked_at is None:
        voucher.update(actions=[Voucher.revoked_at.set(now), Voucher.revoke_reason.set(form.reason)])
    removed: list[str] = []
    if voucher.account_id is not None:
        try:
            account = Account.get(voucher.account_id, consistent_read=True)
        except DoesNotExist:
            return Revocation(campaign_id=voucher.campaign_id, account_id=voucher.account_id, marked_for_removal=[])
        reason = notices.REVOCATION_REASONS[form.reason]
        _block(account.id, AccountStatus.SUSPENDED, now, purge=False)
        audit.event(account.id, "voucher_revoked", staff_id, now, reason=form.reason, evidence=form.evidence).save()
        if account.access_blocked_reason != VOUCHER_REVOKED:  # blocked by this call: tell the owner once
            _notify_owner(account, "voucher_revoked", now, reason=reason)
        removed = _remove_others(account, staff_id, now, reason)
    return Revocation(campaign_id=voucher.campaign_id, account_id=voucher.account_id, marked_for_removal=removed)
