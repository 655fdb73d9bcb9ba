"""How an account ends: cancellation, staff actions, inactivity and the purge."""
