"""Mailing a report file: one message with the report attached, over SMTP.

Built and sent by the notify package's e-mail channel (``cloud.notify.mail``: its
``build_email`` for sender, date and message id, then the file attached, then its ``send``),
so both go to the same mail server the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloud.notify.errors import ChannelError
from cloud.notify.mail import SmtpConfig, build_email, send
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
    """Send one report; a message that cannot be written (a line break in a venue's name),
    or a mail server that does not take it, raises ReportMailError."""
    config = smtp_config(settings)
    try:
        mail = build_email(config, to, Message(title=subject, text=body))
        mail.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,  # a Chinese name is encoded per RFC 2231
        )
        send(config, mail)
    except (ChannelError, ValueError) as exc:
        raise ReportMailError(f"the report was not mailed: {exc}"[:300]) from exc
