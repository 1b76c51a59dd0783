"""E-mail notices over SMTP (smtplib), with STARTTLS unless switched off for a local relay."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from cloud.notify.errors import ChannelError
from cloud.notify.robots import Message


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout_s: float = 10.0


def build_email(config: SmtpConfig, to: str, message: Message) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.title
    mail["From"] = config.sender
    mail["To"] = to
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    body = message.text
    if message.link:
        body += f"\n\n确认处理 / Acknowledge: {message.link}\n"
    mail.set_content(body)
    return mail


def send_email(config: SmtpConfig, to: str, message: Message) -> None:
    """Hand ``message`` to the SMTP server; raises ChannelError with the server's answer."""
    mail = build_email(config, to, message)
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout_s) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user is not None and config.password is not None:
                smtp.login(config.user, config.password)
            smtp.send_message(mail)
    except smtplib.SMTPNotSupportedError as exc:
        raise ChannelError(
            f"the mail server {config.host}:{config.port} does not offer STARTTLS; use its "
            "TLS port or set YZ_CLOUD_NOTIFY__SMTP_STARTTLS=false for a local relay"
        ) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelError(
            f"the mail server {config.host}:{config.port} did not take the message "
            f"({type(exc).__name__}: {exc})"
        ) from exc
