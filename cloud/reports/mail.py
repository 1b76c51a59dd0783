"""Mailing a report file: one message with the report attached, over SMTP (smtplib).

The notification channel sends alert texts; a report needs an attachment, so it has this
small sender of its own over the same ``notify`` SMTP settings.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from cloud.notify.settings import NotifySettings


class ReportMailError(Exception):
    """The mail server did not take the report; the message says why."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def send_report_mail(
    settings: NotifySettings, *, to: str, subject: str, body: str, attachment: Attachment
) -> None:
    """Send one report; smtplib's and the socket's errors become ReportMailError."""
    if settings.smtp_host is None:
        raise ReportMailError("no mail server is set: set YZ_CLOUD_NOTIFY__SMTP_HOST")
    message = EmailMessage()
    message["From"] = settings.smtp_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    message.add_attachment(
        attachment.content,
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        filename=attachment.filename,  # a non-ASCII name is encoded per RFC 2231
    )
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_user is not None and settings.smtp_password is not None:
                smtp.login(settings.smtp_user, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise ReportMailError(f"{type(exc).__name__}: {exc}"[:300]) from exc
