"""Cross-cutting foundations every domain uses: configuration, database, money, clock, errors, security."""
