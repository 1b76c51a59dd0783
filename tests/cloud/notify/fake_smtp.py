"""A small SMTP server on 127.0.0.1 (RFC 5321's minimum: EHLO, MAIL, RCPT, DATA, QUIT) that
keeps what it was given. No STARTTLS: a sender that insists on it must say so clearly."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: EmailMessage


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 fake-smtp ready")
        self.sender = ""
        self.recipients: list[str] = []
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "QUIT":
                self.reply("221 bye")
                return
            self.answer(verb, command)

    def answer(self, verb: str, command: str) -> None:
        if verb == "EHLO":
            self.reply("250-fake-smtp")
            self.reply("250 8BITMIME")
        elif verb == "MAIL":
            self.sender, self.recipients = command.split(":", 1)[1].strip("<> "), []
            self.reply("250 OK")
        elif verb == "RCPT":
            self.recipients.append(command.split(":", 1)[1].strip("<> "))
            self.reply("250 OK")
        elif verb == "DATA":
            self.data()
        elif verb in ("RSET", "NOOP"):
            self.reply("250 OK")
        else:
            self.reply("502 command not implemented")

    def data(self) -> None:
        self.reply("354 go ahead")
        data = b""
        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
            data += chunk[1:] if chunk.startswith(b"..") else chunk
        parsed = message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        fake: FakeSmtp = self.server.fake  # type: ignore[attr-defined]
        fake.received.append(Mail(self.sender, self.recipients, parsed))
        self.reply("250 queued")


@dataclass
class FakeSmtp:
    received: list[Mail] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
