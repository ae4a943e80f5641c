"""Magic links: signed, expiring, revocable links to one account's portal page.

A link is ``<base_url>/l/<token>``.  The token carries the onboarding key, the
contact's email, the scope (``checklist`` for the whole checklist, or
``items:<key>,<key>`` for items forwarded to a colleague), when it was issued
and when it expires, and an HMAC-SHA256 over all of that with the portal's
secret.  Verifying recomputes the HMAC and compares in constant time
(:func:`hmac.compare_digest`); nothing about a token is trusted before that.

A link stops working when

- it expires (``portal.link_business_days`` business days of the account's region),
- the secret is rotated (every link signed with the old one is then forged), or
- its contact is revoked (:func:`revoke_contact`): a row in
  ``onboarding.portal_revocations`` ends every link issued to that contact before it.

Entry points for the engine: :func:`issue_link` (inside the caller's transaction,
so the link is recorded with the email that carries it) and :func:`revoke_contact`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from include.onboarding import lifecycle
from include.onboarding.calendar import region_calendar
from include.onboarding.config import OnboardingConfig, PortalSettings, portal_base_url, portal_secret
from include.onboarding.events import EventType
from include.onboarding.exceptions import BadLink as BadLink
from include.onboarding.exceptions import PortalNotConfigured as PortalNotConfigured
from include.onboarding.store import SCHEMA, Event, Store

CHECKLIST = "checklist"
"""Scope of a link to the whole checklist."""
_VERSION = "v1"
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Access:
    """What a verified link opens: one account, for one contact, maybe only some items."""

    onboarding_key: str
    onboarding_id: int
    contact_email: str
    scope: str
    issued_at: datetime
    expires_at: datetime

    @property
    def items(self) -> frozenset[str] | None:
        """The item keys this link may see and answer; None for the whole checklist."""
        return scope_items(self.scope)

    def allows(self, item_key: str) -> bool:
        items = self.items
        return items is None or item_key in items


@dataclass(frozen=True)
class IssuedLink:
    link_id: int
    token: str
    url: str
    expires_at: datetime


def scope_items(scope: str) -> frozenset[str] | None:
    if scope == CHECKLIST:
        return None
    if scope.startswith("items:"):
        return frozenset(k for k in scope.removeprefix("items:").split(",") if k)
    raise ValueError(f"unknown link scope {scope!r}")


def items_scope(item_keys: list[str]) -> str:
    return "items:" + ",".join(sorted(set(item_keys)))


def load_secret(settings: PortalSettings) -> bytes:
    """The signing key: the environment variable ``secret_env``, else the password of ``secret_connection``."""
    value = portal_secret(settings)
    if not value:
        try:
            from airflow.sdk import BaseHook

            value = BaseHook.get_connection(settings.secret_connection).password
        except Exception as exc:  # not found, or no secrets backend reachable outside a task
            raise PortalNotConfigured(
                f"portal: no signing secret: set the environment variable {settings.secret_env} or the password"
                f" of the Airflow connection {settings.secret_connection!r} ({type(exc).__name__}: {exc})"
            ) from None
    secret = (value or "").encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise PortalNotConfigured(
            f"portal: the signing secret in {settings.secret_env} / connection {settings.secret_connection!r}"
            f" is {len(secret)} bytes; use at least {MIN_SECRET_BYTES} random bytes"
            " (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return secret


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, body: str) -> bytes:
    return hmac.new(secret, f"{_VERSION}.{body}".encode(), hashlib.sha256).digest()


def sign(secret: bytes, onboarding_key: str, email: str, scope: str, issued_at: datetime, expires_at: datetime) -> str:
    """The token for (onboarding key, contact email, scope, expiry); issue time is signed too."""
    claims = {
        "k": onboarding_key,
        "e": email.strip().lower(),
        "s": scope,
        "i": int(issued_at.timestamp() * 1000),  # milliseconds: revocations are that precise
        "x": int(expires_at.timestamp()),
    }
    body = _b64(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_b64(_signature(secret, body))}"


def read(secret: bytes, token: str) -> dict[str, Any]:
    """The token's claims once its signature checks out; raises :class:`BadLink` ``forged`` otherwise."""
    if len(token) > 2048 or token.count(".") != 1:
        raise BadLink("forged")
    body, signature = token.split(".")
    try:
        given = _unb64(signature)
    except (ValueError, TypeError):
        raise BadLink("forged") from None
    if not hmac.compare_digest(given, _signature(secret, body)):
        raise BadLink("forged")
    try:
        claims = json.loads(_unb64(body))
    except ValueError:
        raise BadLink("forged") from None
    if not isinstance(claims, dict) or not {"k", "e", "s", "i", "x"} <= claims.keys():
        raise BadLink("forged")
    return claims


def open_account(store: Store, secret: bytes, token: str, now: datetime) -> tuple[Access, lifecycle.Onboarding]:
    """What a token opens (the contact and scope) and the account itself, or :class:`BadLink` saying why not.

    The account is read with the contact's revocations in one query: every page and every
    submission starts here.
    """
    claims = read(secret, token)
    onboarding_key, email, scope = str(claims["k"]), str(claims["e"]), str(claims["s"])
    issued_at = datetime.fromtimestamp(int(claims["i"]) / 1000, timezone.utc)
    expires_at = datetime.fromtimestamp(int(claims["x"]), timezone.utc)
    try:
        scope_items(scope)
    except ValueError:
        raise BadLink("forged") from None
    rows = store.query(
        f"""SELECT o.*, EXISTS (SELECT FROM {SCHEMA}.portal_revocations r
                                WHERE r.onboarding_id = o.id AND lower(r.contact_email) = %s
                                  AND r.revoked_at >= %s) AS link_revoked
            FROM {SCHEMA}.onboardings o WHERE o.onboarding_key = %s""",
        (email, issued_at, onboarding_key),
    )
    if not rows:
        raise BadLink("unknown")
    if now >= expires_at:
        raise BadLink("expired", onboarding_key)
    if rows[0]["link_revoked"]:
        raise BadLink("revoked", onboarding_key)
    onboarding = lifecycle.from_row(rows[0])
    return Access(onboarding_key, onboarding.id, email, scope, issued_at, expires_at), onboarding


def link_expiry(config: OnboardingConfig, region: str, issued_at: datetime) -> datetime:
    """End of the account's local business day ``link_business_days`` business days after ``issued_at``."""
    region_config = config.settings.regions.get(region)
    days = config.settings.portal.link_business_days
    if region_config is None:  # a region removed from settings: count plain weekdays in UTC
        from datetime import timedelta

        return issued_at + timedelta(days=days * 7 / 5)
    tz = ZoneInfo(region_config.timezone)
    local = issued_at.astimezone(tz)
    last_day = region_calendar(region_config).add_business_days(local.date(), days)
    return datetime.combine(last_day, time(23, 59, 59), tz).astimezone(timezone.utc)


def base_url(config: OnboardingConfig) -> str:
    return portal_base_url(config.settings)


def issue_link(
    cur: psycopg.Cursor[dict[str, Any]],
    config: OnboardingConfig,
    secret: bytes,
    *,
    onboarding_id: int,
    onboarding_key: str,
    region: str,
    contact_email: str,
    contact_name: str | None,
    scope: str,
    purpose: str,
    issued_by: str,
    now: datetime,
) -> IssuedLink:
    """Sign a link for one contact and record it (``onboarding.portal_links``) in the caller's transaction."""
    scope_items(scope)  # refuse an unknown scope before anything is written
    expires_at = link_expiry(config, region, now)
    token = sign(secret, onboarding_key, contact_email, scope, now, expires_at)
    cur.execute(
        f"""INSERT INTO {SCHEMA}.portal_links
                (onboarding_id, contact_email, contact_name, scope, purpose, issued_at, expires_at, issued_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id""",
        (onboarding_id, contact_email.strip().lower(), contact_name, scope, purpose, now, expires_at, issued_by),
    )
    row = cur.fetchone()
    if row is None:
        raise RuntimeError(f"onboarding {onboarding_key}: the portal link for {contact_email} was not recorded")
    link_id = int(row["id"])
    return IssuedLink(link_id, token, f"{base_url(config)}/l/{token}", expires_at)


def revoke_contact(store: Store, onboarding_key: str, contact_email: str, now: datetime, by: str, reason: str) -> None:
    """End every link issued to ``contact_email`` for account ``onboarding_key`` up to now; later links work again."""
    row = store.query(
        f"SELECT id, stage, stage_owner_email FROM {SCHEMA}.onboardings WHERE onboarding_key = %s", (onboarding_key,)
    )
    if not row:
        raise LookupError(
            f"onboarding {onboarding_key}: not in the store, cannot revoke portal access of {contact_email}"
        )
    ob = row[0]
    email = contact_email.strip().lower()
    with store.transaction() as cur:
        cur.execute(
            f"""INSERT INTO {SCHEMA}.portal_revocations (onboarding_id, contact_email, revoked_at, revoked_by, reason)
                VALUES (%s, %s, %s, %s, %s)""",
            (ob["id"], email, now, by, reason),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=onboarding_key,
                    onboarding_id=ob["id"],
                    event_type=EventType.PORTAL_ACCESS_REVOKED,
                    actor=by,
                    occurred_at=now,
                    stage=ob["stage"],
                    stage_owner=ob["stage_owner_email"],
                    details={"contact": email, "reason": reason},
                )
            ],
        )
