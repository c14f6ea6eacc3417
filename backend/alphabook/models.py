"""Every table alphabook has, imported in one place so Alembic and the tests see the whole schema."""

from alphabook.accounts.models import ApiKey, Password, User
from alphabook.core.audit import AuditEntry
from alphabook.core.db import Base

__all__ = ["ApiKey", "AuditEntry", "Base", "Password", "User"]
