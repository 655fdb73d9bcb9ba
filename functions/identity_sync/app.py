"""The ``identity-sync`` schedule: changes of people's sign-in identities the identity provider
refused when they were made (it was down or throttled) are applied again, each user's oldest first,
until it accepts them (API.md "Sign-in")."""

from __future__ import annotations

from lifecycle.accounts.identities import SWEEP, sync
from lifecycle.entry.scheduled import sweep_handler

lambda_handler = sweep_handler(SWEEP, sync)
