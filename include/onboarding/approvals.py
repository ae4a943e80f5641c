"""Internal approvals (deal desk, security review, ...) as a gate people act on.

An approval is decided by a person who holds the approver role for the
account's region; anyone else is refused with the name of who can decide.
Decisions are recorded with who made them.  The tier DAG's approval sensor
waits on these records.

From a shell (with the ``onboarding_db`` connection configured)::

    python -m include.onboarding.approvals pending
    python -m include.onboarding.approvals approve hubspot-18000000001 deal_desk --by rachel.kim@example.com
    python -m include.onboarding.approvals reject hubspot-18000000001 security_review --by tomas.novak@example.com \\
        --comment "Pen-test report missing"
"""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from include.onboarding import lifecycle
from include.onboarding.config import OnboardingConfig, Stage
from include.onboarding.store import SCHEMA, Event, Store


class ApprovalRefused(PermissionError):
    """The person may not decide this approval; the message says who may."""


class ApprovalRejected(RuntimeError):
    """An approver said no: the account cannot proceed until a person intervenes."""


def pending(store: Store) -> list[dict[str, Any]]:
    return store.query(
        f"""SELECT o.onboarding_key, o.account_name, o.tier, o.region, a.approval_key, a.label, a.approver_role,
                   a.requested_at
            FROM {SCHEMA}.approvals a JOIN {SCHEMA}.onboardings o ON o.id = a.onboarding_id
            WHERE a.status = 'pending' AND o.status = 'open' ORDER BY a.requested_at, o.onboarding_key"""
    )


def decide(
    store: Store,
    config: OnboardingConfig,
    key: str,
    approval_key: str,
    approved: bool,
    by: str,
    now: datetime,
    comment: str | None = None,
) -> None:
    onboarding = lifecycle.load(store, key)
    rows = store.query(
        f"SELECT approver_role, status FROM {SCHEMA}.approvals WHERE onboarding_id = %s AND approval_key = %s",
        (onboarding.id, approval_key),
    )
    if not rows:
        raise LookupError(f"onboarding {key} has no approval {approval_key!r}")
    role = rows[0]["approver_role"]
    holder = config.settings.holder(role, onboarding.region)
    if holder is None or holder.lower() != by.strip().lower():
        raise ApprovalRefused(
            f"{by} does not hold role {role!r} for region {onboarding.region}; {holder or 'nobody'} decides"
            f" {approval_key!r} for {key}"
        )
    if rows[0]["status"] != "pending":
        return  # already decided: a repeated click changes nothing
    status = "approved" if approved else "rejected"
    with store.transaction() as cur:
        cur.execute(
            f"""UPDATE {SCHEMA}.approvals SET status = %s, decided_by = %s, decided_at = %s, comment = %s
                WHERE onboarding_id = %s AND approval_key = %s AND status = 'pending'""",
            (status, holder, now, comment, onboarding.id, approval_key),
        )
        Store.record_events(
            cur,
            [
                Event(
                    subject=key,
                    onboarding_id=onboarding.id,
                    event_type=f"approval.{status}",
                    actor=holder,
                    occurred_at=now,
                    stage=onboarding.stage.value,
                    stage_owner=onboarding.stage_owner_email,
                    details={"approval": approval_key, "role": role, "comment": comment},
                    dedupe_key=f"approval:{key}:{approval_key}",
                )
            ],
        )


def poll(store: Store, config: OnboardingConfig, key: str, now: datetime) -> bool:
    """True once every approval of the account is given; raises if one was rejected."""
    onboarding = lifecycle.load(store, key)
    rows = store.query(
        f"""SELECT approval_key, status, decided_by, comment FROM {SCHEMA}.approvals
            WHERE onboarding_id = %s ORDER BY id""",
        (onboarding.id,),
    )
    if rows:
        lifecycle.advance(store, config, key, Stage.APPROVALS, now, "system:approvals", "inputs verified")
    rejected = [r for r in rows if r["status"] == "rejected"]
    if rejected:
        r = rejected[0]
        raise ApprovalRejected(
            f"onboarding {key}: {r['approval_key']} rejected by {r['decided_by']}"
            + (f": {r['comment']}" if r["comment"] else "")
        )
    return all(r["status"] == "approved" for r in rows)


def main(argv: list[str] | None = None) -> None:
    from include.onboarding import runtime

    parser = argparse.ArgumentParser(prog="python -m include.onboarding.approvals", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("pending", help="list approvals waiting on a decision")
    for name in ("approve", "reject"):
        cmd = sub.add_parser(name)
        cmd.add_argument("onboarding_key")
        cmd.add_argument("approval_key")
        cmd.add_argument("--by", required=True, help="your email; you must hold the approver role")
        cmd.add_argument("--comment")
    args = parser.parse_args(argv)
    store = runtime.open_store()
    if args.command == "pending":
        for row in pending(store):
            print(
                f"{row['onboarding_key']}  {row['approval_key']:<16} {row['approver_role']:<16} {row['account_name']}"
            )
        return
    decide(
        store, runtime.config(), args.onboarding_key, args.approval_key, args.command == "approve", args.by,
        runtime.clock().now(), args.comment,
    )  # fmt: skip
    print(f"{args.onboarding_key}: {args.approval_key} {args.command}d by {args.by}")


if __name__ == "__main__":
    main()
