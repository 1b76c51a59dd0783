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
    """The mail of ``message``; raises ChannelError when a header cannot hold a value (a
    title with a line break would start a header of its own: the email package refuses it)."""
    mail = EmailMessage()
    try:
        mail["Subject"] = message.title
        mail["From"] = config.sender
        mail["To"] = to
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain=config.sender.rpartition("@")[2] or None)
    except ValueError as exc:
        raise ChannelError(
            f"the message could not be written as an e-mail ({exc}); a venue name or an "
            "address with a line break is the usual cause: correct it and the next try sends"
        ) from exc
    body = message.text
    if message.link:
        body += f"\n\n确认处理 / Acknowledge: {message.link}\n"
    mail.set_content(body)
    return mail


def send(config: SmtpConfig, mail: EmailMessage) -> None:
    """Hand ``mail`` (built by build_email, attachments and all) to the SMTP server; raises
    ChannelError with the server's answer."""
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
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        # ValueError: smtplib refusing an address or header it cannot put on the wire.
        raise ChannelError(
            f"the mail server {config.host}:{config.port} did not take the message "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def send_email(config: SmtpConfig, to: str, message: Message) -> None:
    """Mail ``message`` to ``to``; raises ChannelError saying why it was not sent."""
    send(config, build_email(config, to, message))
