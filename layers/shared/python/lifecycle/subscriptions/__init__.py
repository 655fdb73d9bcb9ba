"""A subscription's shape over time: trials, plan and seat changes, users."""
