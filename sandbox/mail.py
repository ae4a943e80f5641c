"""A real SMTP server on loopback with a mailbox to read: the customers' inbox in the sandbox.

``aiosmtpd`` accepts mail on a loopback port; every message is parsed with the
standard library's ``email`` package and kept in memory.  Read it from Python
(:meth:`MailSandbox.messages`, :meth:`MailSandbox.wait_for`) or over HTTP
(``GET /messages?to=<address>`` on the read port: JSON with each message's
sender, recipients, subject, text and the links in it).

Self-contained on purpose: it imports nothing from the rest of the sandbox.

    python -m sandbox.mail --smtp-port 8025 --http-port 8026
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs.extend(v for k, v in attrs if k == "href" and v)


@dataclass(frozen=True)
class Mail:
    """One message as delivered: envelope and parsed content."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage
    received_at: float

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        if part is not None:
            return part.get_content()  # type: ignore[no-any-return]
        return re.sub(r"<[^>]+>", " ", self.html)

    @property
    def links(self) -> list[str]:
        parser = _Links()
        parser.feed(self.html)
        found = parser.hrefs or re.findall(r"https?://\S+", self.text)
        return list(dict.fromkeys(found))

    def as_json(self) -> dict[str, Any]:
        return {
            "from": self.mail_from,
            "to": list(self.rcpt_to),
            "subject": self.subject,
            "headers": {k: str(v) for k, v in self.message.items()},
            "text": self.text,
            "links": self.links,
            "received_at": self.received_at,
        }


class Mailbox:
    """Every message received, in order; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._mail: list[Mail] = []

    def add(self, mail: Mail) -> None:
        with self._lock:
            self._mail.append(mail)
            self._lock.notify_all()

    def messages(self, to: str | None = None) -> list[Mail]:
        with self._lock:
            return [m for m in self._mail if to is None or to.lower() in (r.lower() for r in m.rcpt_to)]

    def clear(self) -> None:
        with self._lock:
            self._mail.clear()

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 10.0) -> Mail:
        """The first message to ``to`` whose subject contains the text; waits up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for mail in self._mail:
                    if to.lower() in (r.lower() for r in mail.rcpt_to) and subject_contains in mail.subject:
                        return mail
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no mail to {to} with {subject_contains!r} in the subject in {timeout}s")
                self._lock.wait(left)


class _Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = message_from_bytes(content, policy=policy.default)
        self.mailbox.add(
            Mail(
                mail_from=str(envelope.mail_from or ""),
                rcpt_to=tuple(str(r) for r in envelope.rcpt_tos),
                message=parsed,
                received_at=time.time(),
            )
        )
        return "250 Message accepted for delivery"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MailSandbox:
    """The SMTP server and its mailbox; ``start()`` then send to ``host:smtp_port``; ``stop()``."""

    def __init__(
        self, host: str = "127.0.0.1", smtp_port: int = 0, http_port: int | None = None, mailbox: Mailbox | None = None
    ) -> None:
        self.host = host
        self.smtp_port = smtp_port or free_port(host)
        self.http_port = http_port
        self.mailbox = mailbox if mailbox is not None else Mailbox()
        self._controller = Controller(_Handler(self.mailbox), hostname=host, port=self.smtp_port)
        self._http: ThreadingHTTPServer | None = None

    def start(self) -> MailSandbox:
        self._controller.start()
        if self.http_port is not None:
            self._http = _serve_http(self.mailbox, self.host, self.http_port)
            self.http_port = int(self._http.server_address[1])
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        self._controller.stop()

    def messages(self, to: str | None = None) -> list[Mail]:
        return self.mailbox.messages(to)

    def wait_for(self, to: str, subject_contains: str = "", timeout: float = 10.0) -> Mail:
        return self.mailbox.wait_for(to, subject_contains, timeout)

    def connection_uri(self) -> str:
        """An Airflow connection (JSON form) for ``SmtpHook``: plain SMTP on loopback, no TLS, no login."""
        return json.dumps(
            {
                "conn_type": "smtp",
                "host": self.host,
                "port": self.smtp_port,
                "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0, "timeout": 5},
            }
        )

    @contextmanager
    def running(self) -> Iterator[MailSandbox]:
        self.start()
        try:
            yield self
        finally:
            self.stop()


def _serve_http(mailbox: Mailbox, host: str, port: int) -> ThreadingHTTPServer:
    class Reader(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path != "/messages":
                self.send_error(404, "only GET /messages?to=<address> is served")
                return
            to = parse_qs(url.query).get("to", [None])[0]
            body = json.dumps([m.as_json() for m in mailbox.messages(to)]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_DELETE(self) -> None:
            mailbox.clear()
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Reader)
    threading.Thread(target=server.serve_forever, name="mail-sandbox-http", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP server on loopback keeping every message it receives")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--http-port", type=int, default=8026)
    args = parser.parse_args(argv)
    sandbox = MailSandbox(args.host, args.smtp_port, args.http_port).start()
    print(f"SMTP on {args.host}:{sandbox.smtp_port}, mailbox on http://{args.host}:{sandbox.http_port}/messages")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
