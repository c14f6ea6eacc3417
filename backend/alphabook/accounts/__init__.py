"""Accounts: people mirrored from JupyterHub, their passwords and API keys, and who is calling."""
