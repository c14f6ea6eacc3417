"""Marketplace: listings, versions, moderation, search, entitlements and ratings (issue #5)."""
