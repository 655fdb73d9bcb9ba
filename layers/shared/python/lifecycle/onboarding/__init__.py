"""Becoming a customer: signup and voucher redemption."""
