"""Money owed and paid: billing details, invoices, payments, tax, prices, credit, metering, proration,
paid periods, the billing run, payment methods, corrections and price changes.
"""
