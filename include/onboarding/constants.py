"""The store's vocabulary, defined once: the statuses of checklist items, approvals, setup steps and escalations.

Each is a ``StrEnum`` whose values are the strings the database holds (and its
CHECK constraints allow), so a member compares equal to the stored value and
can be passed to SQL as it is.  Queries spell a status from its enum: one value
as ``status = '{StepStatus.DONE}'`` in an f-string (a member formats as its
value), several with :func:`sql_list`, e.g. ``status IN {SETTLED_SQL}``.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """``enum.StrEnum`` of Python 3.11, for 3.10: a member is its value, also in ``str()`` and f-strings."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return str(self.value).__format__(spec)


class ItemStatus(StrEnum):
    """A checklist item's state (``checklist_items.status``)."""

    MISSING = "missing"
    RECEIVED = "received"
    VERIFIED = "verified"
    REJECTED = "rejected"
    WAIVED = "waived"


SETTLED: tuple[ItemStatus, ...] = (ItemStatus.VERIFIED, ItemStatus.WAIVED)
"""An item is settled when it is verified, or a person waived it: it no longer holds the account up."""


def sql_list(*values: str) -> str:
    """Constant values as an SQL list, ``('done', 'skipped')``, for ``status IN ...`` in a query's text."""
    if not values or any("'" in v for v in values):
        raise ValueError(f"not a list of plain SQL string constants: {values!r}")
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


SETTLED_SQL = sql_list(*SETTLED)
""":data:`SETTLED` as an SQL list, for ``status IN {SETTLED_SQL}`` in queries."""


def is_settled(status: str) -> bool:
    """Whether a checklist item with this status no longer holds the account up."""
    return status in SETTLED


class ApprovalStatus(StrEnum):
    """An approval's state (``approvals.status``)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class StepStatus(StrEnum):
    """A setup step's state (``setup_steps.status``)."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


FINISHED_STEP: tuple[StepStatus, ...] = (StepStatus.DONE, StepStatus.SKIPPED)
"""A step that holds nothing up: done, or not applicable to the account."""

FINISHED_STEP_SQL = sql_list(*FINISHED_STEP)
""":data:`FINISHED_STEP` as an SQL list, for ``status IN {FINISHED_STEP_SQL}`` in queries."""


class EscalationStatus(StrEnum):
    """An escalation's state (``escalations.status``)."""

    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class AccountStatus(StrEnum):
    """An onboarding's state (``onboardings.status``), written by :mod:`include.onboarding.state` only."""

    OPEN = "open"
    LIVE = "live"
    CANCELLED = "cancelled"


class QuarantineStatus(StrEnum):
    """A quarantined order's state (``quarantined_orders.status``)."""

    OPEN = "open"
    RESOLVED = "resolved"
    DISMISSED = "dismissed"


class OutboxStatus(StrEnum):
    """A customer email's state in the outbox (``outbox.status``)."""

    PENDING = "pending"
    SENT = "sent"
