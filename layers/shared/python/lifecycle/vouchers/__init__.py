"""Voucher campaigns and codes: creating, revoking, when a code is redeemable."""
