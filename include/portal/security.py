"""Defences of the portal's pages: CSRF tokens on every form, a limit on bad links per client.

CSRF: the first page a browser opens sets a random ``portal_csrf`` cookie
(HttpOnly, SameSite=Strict); every form carries ``csrf_token``, an HMAC of that
cookie and the page's magic link.  A post whose token is missing or does not
match is refused, so another site cannot make a customer's browser submit.

Bad links: a client (by address) that opens more than
``portal.bad_tokens_per_window`` unusable links within the window gets a 429
page, whatever it opens next, until the window has passed.  The count is kept
in the portal process; behind several portal processes each counts its own.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections import deque

CSRF_COOKIE = "portal_csrf"
CSRF_FIELD = "csrf_token"


def new_csrf_cookie() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret: bytes, cookie: str, link_token: str) -> str:
    return hmac.new(secret, f"csrf|{cookie}|{link_token}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, cookie: str | None, link_token: str, given: str | None) -> bool:
    if not cookie or not given:
        return False
    return hmac.compare_digest(given.encode(), csrf_token(secret, cookie, link_token).encode())


class BadTokenLimiter:
    """Sliding-window count of unusable links per client; thread-safe."""

    def __init__(self, limit: int, window_seconds: float) -> None:
        self.limit = limit
        self.window = window_seconds
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        stamps = self._seen.setdefault(client, deque())
        while stamps and stamps[0] <= now - self.window:
            stamps.popleft()
        return stamps

    def blocked(self, client: str) -> bool:
        with self._lock:
            stamps = self._recent(client, time.monotonic())
            if not stamps:
                self._seen.pop(client, None)
            return len(stamps) >= self.limit

    def record(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._recent(client, now).append(now)
            if len(self._seen) > 100_000:  # a flood of addresses: forget the quietest half rather than grow
                for key in sorted(self._seen, key=lambda k: self._seen[k][-1] if self._seen[k] else 0)[:50_000]:
                    del self._seen[key]


_LINK_IN_PATH = re.compile(r"/l/[^/?#\s]+")


class RedactLinks(logging.Filter):
    """Keeps magic links out of the access log: a link is a credential for days, a log line is not.

    ``/l/<token>/items/vat`` is logged as ``/l/<redacted>/items/vat``, in the message and its arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_LINK_IN_PATH.sub("/l/<redacted>", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _LINK_IN_PATH.sub("/l/<redacted>", record.msg)
        return True
