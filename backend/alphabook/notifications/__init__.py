"""Notifications (issue #11): e-mail and signed webhooks about what happened to a person's runs, sales, payouts,
listings and alerts, as each person chooses."""
