"""The kernel every package stands on: settings, the one clock, money, errors, plans, auth,
observability, billing-period arithmetic and the notices' texts.
"""
