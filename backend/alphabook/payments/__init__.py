"""Payments: the ledger, purchases, refunds, payouts and payment providers (issue #5)."""
