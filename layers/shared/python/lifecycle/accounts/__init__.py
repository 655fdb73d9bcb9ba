"""Accounts as members see them, their audit trail and the Terms' versions."""
