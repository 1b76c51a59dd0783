"""Mailing a report file: one message with the report attached, over SMTP (smtplib).

The notify package's e-mail channel sends a notice's text (``cloud.notify.mail.send_email``
takes no attachment); a report is built as that channel builds its messages (its
``SmtpConfig`` and ``build_email``: sender, date, message id) with the file attached, and
handed to the same mail server the same way.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass

from cloud.notify.mail import SmtpConfig, build_email
from cloud.notify.robots import Message
from cloud.notify.settings import NotifySettings


class ReportMailError(Exception):
    """The mail server did not take the report; the message says why."""


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str


def smtp_config(settings: NotifySettings) -> SmtpConfig:
    if settings.smtp_host is None:
        raise ReportMailError("no mail server is set: set YZ_CLOUD_NOTIFY__SMTP_HOST")
    password = settings.smtp_password
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        user=settings.smtp_user,
        password=None if password is None else password.get_secret_value(),
        starttls=settings.smtp_starttls,
        timeout_s=settings.smtp_timeout_s,
    )


def send_report_mail(
    settings: NotifySettings, *, to: str, subject: str, body: str, attachment: Attachment
) -> None:
    """Send one report; smtplib's and the socket's errors become ReportMailError."""
    config = smtp_config(settings)
    mail = build_email(config, to, Message(title=subject, text=body))
    mail.add_attachment(
        attachment.content,
        maintype=attachment.maintype,
        subtype=attachment.subtype,
        filename=attachment.filename,  # a Chinese name is encoded per RFC 2231
    )
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user is not None and config.password is not None:
                smtp.login(config.user, config.password)
            smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        raise ReportMailError(
            f"the mail server {config.host}:{config.port} did not take the report "
            f"({type(exc).__name__}: {exc})"[:300]
        ) from exc
