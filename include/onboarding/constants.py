"""The store's vocabulary, defined once: the statuses of checklist items, approvals, setup steps and escalations.

Each is a ``StrEnum`` whose values are the strings the database holds (and its
CHECK constraints allow), so a member compares equal to the stored value and
can be passed to SQL as it is.
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

SETTLED_SQL = "('verified', 'waived')"
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
