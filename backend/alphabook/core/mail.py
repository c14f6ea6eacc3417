"""Send one plain-text e-mail through the configured SMTP server (the standard library's smtplib).

Shared by every feature that mails people (scheduled-run notifications, sign-in links, event notifications), so
SMTP settings, STARTTLS and login are handled in one place. Delivery problems are returned as a sentence for the
caller's log, never raised: an unreachable mail server must not fail the action that wanted to tell someone.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

from alphabook.core.config import Settings

__all__ = ["send_email"]


def send_email(to: str, subject: str, text: str, settings: Settings) -> str:
    """Send ``text`` to ``to``; returns what happened, in words ("e-mail sent to ...", "... failed: ...")."""
    if not settings.smtp_host:
        return f"e-mail to {to} not sent: no SMTP server is configured (ALPHABOOK_SMTP_HOST)"
    message = EmailMessage()
    message["Subject"] = subject
    message["From"], message["To"] = settings.smtp_from, to
    message.set_content(text)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=20) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        return f"e-mail to {to} failed: {error}"
    return f"e-mail sent to {to}"
