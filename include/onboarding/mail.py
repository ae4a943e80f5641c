"""Email to the customer: an outbox in the store, delivered through Airflow's SMTP provider.

Queueing writes the message to ``onboarding.outbox`` with a ``mail.queued``
audit event, in one transaction (with the magic link it carries, when it
carries one), so nothing is told to a customer that is not in the audit trail,
and nothing recorded as told is lost.  A dedupe key per message makes every
queue function safe to call again (a retried task queues its email once).

:func:`deliver_pending` sends what is pending through the SMTP connection
(``mail.connection``, ``customer_mail`` by default; ``SmtpHook``), oldest first,
recording ``mail.sent``.  When the server is down or refuses a message, the
message stays pending with the error and a ``mail.deferred`` event: mail is
delayed, never lost, and delivery never raises into the onboarding.

Entry points for the engine (each returns the outbox id, or None when that
message was queued before):

- :func:`queue_invitation` when the checklist is planned: the magic link to the portal;
- :func:`queue_reminder` when the customer is chased, with the items still open;
- :func:`queue_rejection` when an input is rejected outside the portal, with the reason;
- :func:`queue_go_live` when the account is live;
- :func:`queue_forward` (used by the portal) when a customer forwards items to a colleague;
- :func:`deliver_pending` from a scheduled task, or right after queueing.

It lives beside the engine rather than in the portal because the engine queues
most of this mail (invitation, reminders, go-live) and must not import a web app.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psycopg

from include.onboarding import lifecycle
from include.onboarding.config import OnboardingConfig
from include.onboarding.constants import SETTLED_SQL, OutboxStatus
from include.onboarding.events import EventType
from include.onboarding.store import SCHEMA, Event, Store

if TYPE_CHECKING:
    from include.portal.links import IssuedLink

log = logging.getLogger(__name__)

ACTOR = "system:mail"
KINDS = ("invitation", "rejection", "reminder", "go_live", "forward")


@dataclass(frozen=True)
class Message:
    kind: str
    to_email: str
    to_name: str | None
    subject: str
    paragraphs: list[str]
    link: str | None = None
    link_text: str = "Open your onboarding checklist"

    @property
    def text(self) -> str:
        parts = [*self.paragraphs]
        if self.link:
            parts.insert(1 if len(parts) > 1 else len(parts), f"{self.link_text}:\n{self.link}")
        return "\n\n".join(parts) + "\n"

    @property
    def html(self) -> str:
        blocks = [f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>" for p in self.paragraphs]
        if self.link:
            anchor = f'<p><a href="{html.escape(self.link, quote=True)}">{html.escape(self.link_text)}</a></p>'
            blocks.insert(1 if len(blocks) > 1 else len(blocks), anchor)
        return "<html><body>" + "".join(blocks) + "</body></html>"


@dataclass
class Delivery:
    """What one delivery pass did."""

    sent: int = 0
    deferred: int = 0
    errors: list[str] = field(default_factory=list)


def queue(
    cur: psycopg.Cursor[dict[str, Any]], onboarding: lifecycle.Onboarding, message: Message, now: datetime, dedupe: str
) -> int | None:
    """Add ``message`` to the outbox in the caller's transaction; None if ``dedupe`` was queued before."""
    if message.kind not in KINDS:
        raise ValueError(f"onboarding {onboarding.key}: unknown kind of customer email {message.kind!r}")
    cur.execute(
        f"""INSERT INTO {SCHEMA}.outbox
                (onboarding_id, kind, to_email, to_name, subject, body_text, body_html, queued_at, dedupe_key)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (dedupe_key) DO NOTHING RETURNING id""",
        (
            onboarding.id, message.kind, message.to_email, message.to_name, message.subject,
            message.text, message.html, now, dedupe,
        ),
    )  # fmt: skip
    row = cur.fetchone()
    if row is None:
        return None
    outbox_id = int(row["id"])
    Store.record_events(
        cur,
        [
            Event(
                subject=onboarding.key,
                onboarding_id=onboarding.id,
                event_type=EventType.MAIL_QUEUED,
                actor=ACTOR,
                occurred_at=now,
                stage=onboarding.stage.value,
                stage_owner=onboarding.stage_owner_email,
                details={"outbox_id": outbox_id, "kind": message.kind, "to": message.to_email,
                         "subject": message.subject},
                dedupe_key=f"mail.queued:{dedupe}",
            )
        ],
    )  # fmt: skip
    return outbox_id


def _owner_line(config: OnboardingConfig, onboarding: lifecycle.Onboarding) -> str:
    person = config.settings.people_by_email.get(onboarding.owner_email)
    name = person.name if person else onboarding.owner_email
    return f"Your onboarding manager is {name} ({onboarding.owner_email}): reply to them with any question."


def _greeting(name: str | None) -> str:
    return f"Hello {name}," if name else "Hello,"


def _secret(config: OnboardingConfig, secret: bytes | None) -> bytes:
    from include.portal.links import load_secret

    return secret if secret is not None else load_secret(config.settings.portal)


def queue_invitation(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    now: datetime,
    *,
    secret: bytes | None = None,
    contact_email: str | None = None,
    contact_name: str | None = None,
    purpose: str = "invitation",
) -> int | None:
    """Invite a contact (the order's primary contact by default) to the portal with a fresh magic link; once."""
    key_secret = _secret(config, secret)
    ob = lifecycle.load(store, onboarding_key)
    email = (contact_email or ob.primary_contact_email).strip().lower()
    name = contact_name if contact_email else (contact_name or ob.primary_contact_name)
    dedupe = (
        f"{purpose}:{onboarding_key}:{email}"
        if purpose == "invitation"
        else f"{purpose}:{onboarding_key}:{email}:{now.isoformat()}"
    )

    def compose(link: IssuedLink) -> Message:
        return Message(
            kind="invitation",
            to_email=email,
            to_name=name,
            subject=f"{ob.account_name}: your onboarding checklist",
            paragraphs=[
                _greeting(name),
                f"Welcome aboard. To set up {ob.account_name} we need a few things from you; each answer is "
                "checked the moment you send it, and you can see what is still open at any time.",
                f"We are aiming to have you live by {ob.activation_target:%A %d %B %Y}. "
                f"This link is personal and works until {link.expires_at:%d %B %Y}; do not forward the email "
                "(you can pass single items to a colleague from the page).",
                _owner_line(config, ob),
            ],
            link=link.url,
        )

    return _queue_with_link(store, config, key_secret, ob, now, dedupe, email, name, purpose, compose)


OnQueued = Callable[[psycopg.Cursor[dict[str, Any]], int, list[str]], None]
"""Called in the queueing transaction with the outbox id and the open items' keys (what the mail lists)."""


def queue_reminder(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    now: datetime,
    *,
    reminder: int,
    secret: bytes | None = None,
    since: datetime | None = None,
    on_queued: OnQueued | None = None,
) -> int | None:
    """Remind the primary contact of the items still open (reminder number ``reminder``), with a fresh link.

    Once per reminder number, or, given ``since`` (the start of the stretch without progress it
    chases), once per number and stretch, so the count can restart after the customer acts.
    ``on_queued`` records what the reminder was for in the same transaction as the mail.
    """
    key_secret = _secret(config, secret)
    ob = lifecycle.load(store, onboarding_key)
    rows = store.query(
        f"""SELECT item_key, label FROM {SCHEMA}.checklist_items
            WHERE onboarding_id = %s AND status NOT IN {SETTLED_SQL} ORDER BY id""",
        (ob.id,),
    )
    open_items = [r["label"] for r in rows]
    if not open_items:
        return None
    stretch = "" if since is None else f"{since.astimezone(timezone.utc).isoformat()}:"
    dedupe = f"reminder:{onboarding_key}:{stretch}{reminder}"
    item_keys = [r["item_key"] for r in rows]

    def then(cur: psycopg.Cursor[dict[str, Any]], outbox_id: int) -> None:
        if on_queued is not None:
            on_queued(cur, outbox_id, item_keys)

    def compose(link: IssuedLink) -> Message:
        return Message(
            kind="reminder",
            to_email=ob.primary_contact_email,
            to_name=ob.primary_contact_name,
            subject=f"{ob.account_name}: {len(open_items)} onboarding item(s) still open",
            paragraphs=[
                _greeting(ob.primary_contact_name),
                "We are still waiting for:\n" + "\n".join(f"- {label}" for label in open_items),
                f"Your go-live target is {ob.activation_target:%A %d %B %Y}.",
                _owner_line(config, ob),
            ],
            link=link.url,
        )

    email, name = ob.primary_contact_email, ob.primary_contact_name
    return _queue_with_link(store, config, key_secret, ob, now, dedupe, email, name, "reminder", compose, then)


def queue_rejection(
    store: Store,
    config: OnboardingConfig,
    onboarding_key: str,
    item_key: str,
    reason: str,
    submission_id: str,
    now: datetime,
    *,
    secret: bytes | None = None,
) -> int | None:
    """Tell the primary contact an input was rejected, with the reason and a link to send it again; once."""
    key_secret = _secret(config, secret)
    ob = lifecycle.load(store, onboarding_key)
    label = store.scalar(
        f"SELECT label FROM {SCHEMA}.checklist_items WHERE onboarding_id = %s AND item_key = %s", (ob.id, item_key)
    )
    if label is None:
        raise LookupError(
            f"onboarding {onboarding_key}: no checklist item {item_key!r} to send a rejection notice about"
        )
    dedupe = f"rejection:{onboarding_key}:{submission_id}"

    def compose(link: IssuedLink) -> Message:
        return Message(
            kind="rejection",
            to_email=ob.primary_contact_email,
            to_name=ob.primary_contact_name,
            subject=f"{ob.account_name}: please check {label}",
            paragraphs=[_greeting(ob.primary_contact_name), f"We could not accept {label}: {reason}",
                        _owner_line(config, ob)],
            link=link.url,
            link_text="Send it again",
        )  # fmt: skip

    email, name = ob.primary_contact_email, ob.primary_contact_name
    return _queue_with_link(store, config, key_secret, ob, now, dedupe, email, name, "resend", compose)


def _queue_with_link(
    store: Store,
    config: OnboardingConfig,
    key_secret: bytes,
    ob: lifecycle.Onboarding,
    now: datetime,
    dedupe: str,
    email: str,
    name: str | None,
    purpose: str,
    compose: Callable[[IssuedLink], Message],
    then: Callable[[psycopg.Cursor[dict[str, Any]], int], None] | None = None,
) -> int | None:
    """Issue a checklist link for ``email`` and queue the message built around it, unless ``dedupe`` went out.

    The look-up comes first so a repeated call issues no link it would not send.  ``then`` runs in
    the same transaction once the message is queued, with its outbox id.
    """
    from include.portal.links import CHECKLIST, issue_link

    with store.transaction() as cur:
        cur.execute(f"SELECT 1 FROM {SCHEMA}.outbox WHERE dedupe_key = %s", (dedupe,))
        if cur.fetchone() is not None:
            return None
        link = issue_link(
            cur, config, key_secret, onboarding_id=ob.id, onboarding_key=ob.key, region=ob.region,
            contact_email=email, contact_name=name, scope=CHECKLIST, purpose=purpose, issued_by=ACTOR, now=now,
        )  # fmt: skip
        outbox_id = queue(cur, ob, compose(link), now, dedupe)
        if outbox_id is not None and then is not None:
            then(cur, outbox_id)
        return outbox_id


def queue_go_live(
    store: Store, config: OnboardingConfig, onboarding_key: str, now: datetime, *, set_up: list[str] | None = None
) -> int | None:
    """Tell the primary contact the account is live, with what was set up; once."""
    ob = lifecycle.load(store, onboarding_key)
    done = "\n".join(f"- {line}" for line in set_up or [])
    message = Message(
        kind="go_live",
        to_email=ob.primary_contact_email,
        to_name=ob.primary_contact_name,
        subject=f"{ob.account_name} is live",
        paragraphs=[
            _greeting(ob.primary_contact_name),
            f"{ob.account_name} is live. Thank you for everything you sent us."
            + (f" This is what we set up:\n{done}" if done else ""),
            _owner_line(config, ob).replace("reply to them", "they will introduce your next point of contact;"
                                            " reply to them"),
        ],
    )  # fmt: skip
    with store.transaction() as cur:
        return queue(cur, ob, message, now, f"go_live:{onboarding_key}")


def queue_forward(
    cur: psycopg.Cursor[dict[str, Any]],
    config: OnboardingConfig,
    onboarding: lifecycle.Onboarding,
    *,
    forward_id: int,
    from_email: str,
    to_email: str,
    to_name: str,
    labels: list[str],
    link_url: str,
    now: datetime,
) -> int | None:
    """Invite a colleague to the items forwarded to them, in the caller's transaction (the forward's)."""
    message = Message(
        kind="forward",
        to_email=to_email,
        to_name=to_name,
        subject=f"{onboarding.account_name}: {from_email} asked you for onboarding information",
        paragraphs=[
            _greeting(to_name),
            f"{from_email} is onboarding {onboarding.account_name} and asked you to send:\n"
            + "\n".join(f"- {label}" for label in labels),
            "Each answer is checked the moment you send it. The link shows only these items.",
            _owner_line(config, onboarding),
        ],
        link=link_url,
        link_text="Open the items",
    )
    return queue(cur, onboarding, message, now, f"forward:{onboarding.key}:{forward_id}")


# --------------------------------------------------------------------------- delivery


def deliver_pending(store: Store, config: OnboardingConfig, now: datetime, *, conn_id: str | None = None) -> Delivery:
    """Send pending customer email, oldest first, up to ``mail.batch_size``; never raises.

    Each message is locked while it is sent (``FOR UPDATE SKIP LOCKED``), so two passes at once
    never send one message twice.  A message the server refuses, or every message when the
    server cannot be reached, stays pending with its error for the next pass.
    """
    settings = config.settings.mail
    summary = Delivery()
    ids = [
        int(r["id"])
        for r in store.query(
            f"SELECT id FROM {SCHEMA}.outbox WHERE status = '{OutboxStatus.PENDING}' ORDER BY queued_at, id LIMIT %s",
            (settings.batch_size,),
        )
    ]
    if not ids:
        return summary
    try:
        from airflow.providers.smtp.hooks.smtp import SmtpHook

        hook = SmtpHook(smtp_conn_id=conn_id or settings.connection)
        hook.get_conn()
    except Exception as exc:  # server down, refused, no such connection: all of it waits
        error = f"{type(exc).__name__}: {exc}"
        for outbox_id in ids:
            _defer(store, outbox_id, error, now)
        summary.deferred = len(ids)
        summary.errors.append(error)
        log.warning("customer mail: %d message(s) wait: %s: %s", len(ids), settings.connection, error)
        return summary
    with hook:  # closes the SMTP session at the end (get_conn above opened it)
        for outbox_id in ids:
            _send_one(store, hook, settings.sender, outbox_id, now, summary)
    return summary


def _send_one(store: Store, hook: Any, sender: str, outbox_id: int, now: datetime, summary: Delivery) -> None:
    try:
        with store.transaction() as cur:
            cur.execute(
                f"""SELECT o.*, b.onboarding_key, b.stage, b.stage_owner_email FROM {SCHEMA}.outbox o
                    JOIN {SCHEMA}.onboardings b ON b.id = o.onboarding_id
                    WHERE o.id = %s AND o.status = '{OutboxStatus.PENDING}' FOR UPDATE OF o SKIP LOCKED""",
                (outbox_id,),
            )
            row = cur.fetchone()
            if row is None:
                return  # sent or being sent by another pass
            hook.send_email_smtp(
                to=row["to_email"],
                subject=row["subject"],
                html_content=row["body_html"],
                from_email=sender,
                custom_headers={
                    "Message-ID": f"<outbox-{outbox_id}.{row['onboarding_key']}@onboarding.invalid>",
                    "X-Onboarding-Key": row["onboarding_key"],
                    "X-Onboarding-Mail-Kind": row["kind"],
                },
            )
            cur.execute(
                f"""UPDATE {SCHEMA}.outbox SET status = '{OutboxStatus.SENT}', sent_at = %s, attempts = attempts + 1,
                        last_attempt_at = %s, last_error = NULL WHERE id = %s""",
                (now, now, outbox_id),
            )
            Store.record_events(
                cur,
                [
                    Event(
                        subject=row["onboarding_key"],
                        onboarding_id=row["onboarding_id"],
                        event_type=EventType.MAIL_SENT,
                        actor=ACTOR,
                        occurred_at=now,
                        stage=row["stage"],
                        stage_owner=row["stage_owner_email"],
                        details={"outbox_id": outbox_id, "kind": row["kind"], "to": row["to_email"],
                                 "subject": row["subject"]},
                        dedupe_key=f"mail.sent:{outbox_id}",
                    )
                ],
            )  # fmt: skip
        summary.sent += 1
    except Exception as exc:  # the message stays pending; the rest of the batch goes on
        error = f"{type(exc).__name__}: {exc}"
        _defer(store, outbox_id, error, now)
        summary.deferred += 1
        summary.errors.append(f"outbox {outbox_id}: {error}")
        log.warning("customer mail: outbox %d waits: %s", outbox_id, error)


def _defer(store: Store, outbox_id: int, error: str, now: datetime) -> None:
    try:
        with store.transaction() as cur:
            cur.execute(
                f"""UPDATE {SCHEMA}.outbox o SET attempts = attempts + 1, last_error = %s, last_attempt_at = %s
                    FROM {SCHEMA}.onboardings b
                    WHERE o.id = %s AND o.status = '{OutboxStatus.PENDING}' AND b.id = o.onboarding_id
                    RETURNING o.attempts, o.kind, o.to_email, b.onboarding_key, b.id AS onboarding_id, b.stage,
                              b.stage_owner_email""",
                (error[:1000], now, outbox_id),
            )
            row = cur.fetchone()
            if row is None:
                return
            Store.record_events(
                cur,
                [
                    Event(
                        subject=row["onboarding_key"],
                        onboarding_id=row["onboarding_id"],
                        event_type=EventType.MAIL_DEFERRED,
                        actor=ACTOR,
                        occurred_at=now,
                        stage=row["stage"],
                        stage_owner=row["stage_owner_email"],
                        details={"outbox_id": outbox_id, "kind": row["kind"], "to": row["to_email"],
                                 "attempt": row["attempts"], "error": error[:500]},
                        dedupe_key=f"mail.deferred:{outbox_id}:{row['attempts']}",
                    )
                ],
            )  # fmt: skip
    except Exception:  # the store itself is down: the message is still pending, nothing is lost
        log.warning("customer mail: could not record the failed attempt of outbox %d", outbox_id, exc_info=True)
