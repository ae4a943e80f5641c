"""Simulated customers: they read their mail, open the magic link and use the portal's forms.

Each customer is an email address.  When mail reaches it in the sandbox's
mailbox (an invitation, a reminder, a forwarded item, a rejection notice), the
customer opens the link in it (a plain HTTP GET of the portal page, keeping the
portal's cookies as a browser would), reads the open items from the page and
answers through the page's own forms (``multipart/form-data`` with the form's
CSRF token; documents as real file bytes), reading each verdict from the page
that comes back.  How each behaves is set per address (or for everyone):

- ``prompt``: answers every open item at once, correctly;
- ``slow``: the same, ``slow_seconds`` of sandbox time after the mail arrived;
- ``silent``: never opens a mail;
- ``invalid_then_correct``: first a wrong answer to each item a validator can
  fault (a malformed email, ``GB123`` as a VAT number, an ``.exe`` renamed
  ``.pdf``...), then, having read the reason on the page, the right one;
- ``partial``: answers only the nice-to-have items, whatever the reminders say;
- ``forwarding``: forwards the billing and tax items to a colleague in finance
  (or, when there are none, the first open item to IT), who answers promptly
  from their own link, and answers the rest.

Anyone without a behaviour of their own (a colleague an item was forwarded to)
is ``prompt``.  What each customer did is in :meth:`Customers.ledger`.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import requests

from sandbox.common import Clock
from sandbox.form_values import VALIDATED_TYPES, Account, answer
from sandbox.mail import Mail, Mailbox

log = logging.getLogger(__name__)

BEHAVIOURS = ("prompt", "slow", "silent", "invalid_then_correct", "partial", "forwarding")
DEFAULT_BEHAVIOUR = "prompt"
DEFAULT_SLOW_SECONDS = 5.0
FORWARDED_WORDS = ("billing", "invoice", "finance", "accounts", "vat", "tax")
"""Items a ``forwarding`` customer passes to finance (by their key)."""
_LINK = re.compile(r"/l/[A-Za-z0-9._~-]+$")


# -- reading the portal's page -----------------------------------------------------------------------


@dataclass
class PageItem:
    key: str
    type: str
    status: str
    critical: bool
    has_form: bool = False
    choices: list[str] = field(default_factory=list)
    accept: str = ""
    reason: str = ""


class _Page(HTMLParser):
    """The items, the CSRF token and the forward form of one checklist page."""

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[str, PageItem] = {}
        self.csrf: str | None = None
        self.can_forward = False
        self._item: PageItem | None = None
        self._in_reason = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "li" and "data-key" in a:
            self._item = PageItem(a["data-key"], a.get("data-type", "text"), a.get("data-status", ""),
                                  a.get("data-critical") == "true")  # fmt: skip
            self.items[self._item.key] = self._item
        elif tag == "input" and a.get("name") == "csrf_token":
            self.csrf = a.get("value")
        elif tag == "form" and a.get("action", "").endswith("/forward"):
            self.can_forward = True
        elif self._item is not None:
            if tag == "form":
                self._item.has_form = True
            elif tag == "option" and a.get("value"):
                self._item.choices.append(a["value"])
            elif tag == "input" and a.get("type") == "file" and a.get("name") == "document":
                self._item.accept = a.get("accept", "")
            elif tag == "p" and a.get("class") == "reason":
                self._in_reason = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._item = None
        elif tag == "p":
            self._in_reason = False

    def handle_data(self, data: str) -> None:
        if self._in_reason and self._item is not None:
            self._item.reason += data


def read_page(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


# -- files a customer uploads ------------------------------------------------------------------------


def file_bytes(content_type: str, size: int, seed: str) -> bytes:
    """A small real file of ``content_type`` (its first bytes say what it is), padded towards ``size``."""
    filler = hashlib.sha256(seed.encode()).hexdigest().encode() * (max(size, 64) // 64 + 1)
    filler = filler[: max(size, 64)]
    if content_type in ("application/zip",) or "officedocument" in content_type:
        part = "word/document.xml" if "wordprocessing" in content_type else "xl/workbook.xml"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            if "officedocument" in content_type:
                archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr(part if "officedocument" in content_type else "data.txt", filler)
        return buffer.getvalue()
    heads = {
        "application/pdf": b"%PDF-1.7\n",
        "image/png": b"\x89PNG\r\n\x1a\n",
        "image/jpeg": b"\xff\xd8\xff\xe0",
        "application/xml": b"<?xml version='1.0'?><data>",
        "text/xml": b"<?xml version='1.0'?><data>",
    }
    if content_type == "text/csv":
        return b"name,value\n" + b"\n".join(b"row,%d" % i for i in range(max(size // 8, 1)))
    return heads.get(content_type, b"%PDF-1.7\n") + filler


def _upload(item: PageItem, account: Account, valid: bool, seed: str) -> tuple[str, bytes, str]:
    """(filename, bytes, declared type) for a document item; a renamed program when not valid."""
    if not valid:
        return f"{item.key}.pdf", b"MZ\x90\x00" + b"\x00" * 4096, "application/pdf"  # a Windows program named .pdf
    types = [t for t in item.accept.split(",") if "/" in t] or ["application/pdf"]
    meta = answer({"key": item.key, "type": "document", "document": {"content_types": types, "max_mb": 1}},
                  account, True, seed).document or {}  # fmt: skip
    content_type = "application/pdf" if "application/pdf" in types else types[0]
    size = min(int(meta.get("size_bytes") or 48_000), 64_000)
    return str(meta.get("filename") or f"{item.key}.pdf"), file_bytes(content_type, size, seed), content_type


# -- the customers -----------------------------------------------------------------------------------


@dataclass
class _Visit:
    due_at: float
    email: str
    link: str
    subject: str


class Customers:
    """Every simulated customer, driven by the mail in ``mailbox`` on the sandbox ``clock``.

    ``start()`` runs them in a background thread that looks at the mailbox every
    ``tick_seconds`` (wall time); :meth:`step` does one look, for tests that drive time themselves.
    """

    def __init__(self, mailbox: Mailbox, clock: Clock = time.time, *, tick_seconds: float = 0.2) -> None:
        self.mailbox = mailbox
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.slow_seconds = DEFAULT_SLOW_SECONDS
        self.default_behaviour = DEFAULT_BEHAVIOUR
        self._by_email: dict[str, str] = {}
        self._seen = 0
        self._visits: list[_Visit] = []
        self._attempts: dict[tuple[str, str], int] = {}
        self._forwarded: set[str] = set()
        self._sessions: dict[str, requests.Session] = {}
        self._ledger: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- settings ---------------------------------------------------------------------

    def set_behaviour(self, behaviour: str, email: str | None = None) -> dict[str, Any]:
        """How the customer at ``email`` (everyone without one of their own, when None) behaves from now on."""
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"unknown behaviour {behaviour!r}; known: {', '.join(BEHAVIOURS)}")
        with self._lock:
            if email is None:
                self.default_behaviour = behaviour
            else:
                self._by_email[email.strip().lower()] = behaviour
            return self.behaviours()

    def behaviours(self) -> dict[str, Any]:
        with self._lock:
            return {"default": self.default_behaviour, "by_email": dict(self._by_email)}

    def behaviour_of(self, email: str) -> str:
        with self._lock:
            return self._by_email.get(email.lower(), self.default_behaviour)

    def ledger(self) -> list[dict[str, Any]]:
        """What every customer did, in order: ``opened``, ``submitted`` (with the verdict), ``forwarded``."""
        with self._lock:
            return [dict(entry) for entry in self._ledger]

    def reset(self) -> None:
        with self._lock:
            self._by_email.clear()
            self.default_behaviour, self.slow_seconds = DEFAULT_BEHAVIOUR, DEFAULT_SLOW_SECONDS
            self._seen = len(self.mailbox.messages())
            self._visits.clear()
            self._attempts.clear()
            self._forwarded.clear()
            self._ledger.clear()

    # -- running ----------------------------------------------------------------------

    def start(self) -> Customers:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="sandbox-customers", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)  # a visit in flight is abandoned: the sandbox is going away
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.tick_seconds):
            try:
                self.step()
            except Exception:  # one bad page must not end every customer's day
                log.exception("simulated customers: a visit failed; carrying on")

    def step(self) -> int:
        """Read new mail, then make every visit that is due; returns how many visits were made."""
        with self._lock:
            mails = self.mailbox.messages()
            fresh, self._seen = mails[self._seen :], len(mails)
            for mail in fresh:
                self._plan(mail)
            now = self.clock()
            due = [v for v in self._visits if v.due_at <= now]
            self._visits = [v for v in self._visits if v.due_at > now]
        for visit in sorted(due, key=lambda v: v.due_at):
            self._visit(visit)
        return len(due)

    def _plan(self, mail: Mail) -> None:
        links = [link for link in mail.links if _LINK.search(urlsplit(link).path)]
        if not links:
            return  # a notice without a link (go-live): nothing to do
        for email in mail.rcpt_to:
            behaviour = self.behaviour_of(email)
            if behaviour == "silent":
                continue
            delay = self.slow_seconds if behaviour == "slow" else 0.0
            self._visits.append(_Visit(self.clock() + delay, email.lower(), links[0], mail.subject))

    # -- one visit --------------------------------------------------------------------

    def _session(self, email: str) -> requests.Session:
        session = self._sessions.get(email)
        if session is None:
            session = self._sessions[email] = requests.Session()
            session.trust_env = False  # the portal is on loopback: never through a proxy
        return session

    def _visit(self, visit: _Visit) -> None:
        session, behaviour = self._session(visit.email), self.behaviour_of(visit.email)
        response = session.get(visit.link, timeout=10)
        self._note(visit.email, "opened", status=response.status_code, subject=visit.subject)
        if response.status_code != 200:
            return  # an expired or revoked link: a person would ask for a new one; the reminder brings it
        page = read_page(response.text)
        domain = visit.email.rsplit("@", 1)[-1]
        account = Account(name=domain.split(".")[0].title(), domain=domain, contact_email=visit.email)
        open_items = [i for i in page.items.values() if i.has_form]
        if behaviour == "partial":
            open_items = [i for i in open_items if not i.critical]
        if behaviour == "forwarding" and page.can_forward and visit.email not in self._forwarded:
            # Billing and tax items go to finance; without any, the first open item goes to IT.
            to_finance = [i for i in open_items if any(w in i.key for w in FORWARDED_WORDS)]
            passed_on, colleague = (to_finance, "finance") if to_finance else (open_items[:1], "it")
            if passed_on:
                self._forward(session, visit, page, passed_on, f"{colleague}@{domain}")
                open_items = [i for i in open_items if i not in passed_on]
        for item in open_items:
            self._answer(session, visit, page, item, account, behaviour)

    def _answer(
        self, session: requests.Session, visit: _Visit, page: _Page, item: PageItem, account: Account, behaviour: str
    ) -> None:
        for _ in range(2):  # a wrong first try, corrected once the page gives the reason
            attempt = self._attempts.get((visit.email, item.key), 0)
            self._attempts[(visit.email, item.key)] = attempt + 1
            valid = not (behaviour == "invalid_then_correct" and attempt == 0 and item.type in VALIDATED_TYPES)
            seed = f"{visit.email}:{item.key}:{attempt}"
            data: dict[str, str] = {"csrf_token": page.csrf or ""}
            files: dict[str, tuple[str, bytes, str]] | None = None
            if item.type == "document":
                files = {"document": _upload(item, account, valid, seed)}
            else:
                spec = {"key": item.key, "type": item.type, "choices": item.choices}
                data["value"] = answer(spec, account, valid, seed).value or ""
            response = session.post(_action(visit.link, item.key), data=data, files=files, timeout=10)
            after = read_page(response.text).items.get(item.key) if response.status_code == 200 else None
            verdict = after.status if after is not None else f"http {response.status_code}"
            reason = after.reason.strip().removeprefix("Why:").strip() if after is not None else ""
            self._note(visit.email, "submitted", item=item.key, valid=valid, verdict=verdict, reason=reason or None)
            if after is None or after.status != "rejected" or behaviour != "invalid_then_correct":
                return
            page = read_page(response.text)

    def _forward(
        self, session: requests.Session, visit: _Visit, page: _Page, items: list[PageItem], colleague: str
    ) -> None:
        name = "Finance team" if colleague.startswith("finance@") else "IT team"
        data = [("csrf_token", page.csrf or ""), ("name", name), ("email", colleague)]
        data += [("items", i.key) for i in items]
        response = session.post(visit.link.rstrip("/") + "/forward", data=data, timeout=10)
        self._forwarded.add(visit.email)
        self._note(visit.email, "forwarded", to=colleague, items=[i.key for i in items], status=response.status_code)

    def _note(self, email: str, action: str, **details: Any) -> None:
        with self._lock:
            self._ledger.append({"email": email, "action": action, "at": self.clock(), **details})


def _action(link: str, item_key: str) -> str:
    return f"{link.rstrip('/')}/items/{item_key}"
