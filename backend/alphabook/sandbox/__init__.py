"""Sandbox: validate and run creators' untrusted code in an OS-isolated process (issue #4)."""
