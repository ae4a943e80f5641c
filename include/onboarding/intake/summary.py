"""What each step of a pickup reports (the pull and process tasks' return values, as dictionaries)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class PullSummary:
    batch_id: str
    read_from: str
    fetched: int
    high_water: str | None


@dataclass
class ProcessSummary:
    batch_id: str
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    duplicates: int = 0
    quarantined: int = 0
    """Orders of this batch in quarantine (new or still waiting on a fix)."""
    newly_quarantined: int = 0
    quarantine_resolved: int = 0
    out_of_pilot: int = 0
    """Valid new orders outside the pilot scope: counted, left alone, taken in when the scope widens."""
    created_keys: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, int)}

    def add(self, other: ProcessSummary) -> None:
        """Add the counts and created keys of ``other`` (a part of this batch) to these."""
        for name, value in other.counts().items():
            setattr(self, name, getattr(self, name) + value)
        self.created_keys.extend(other.created_keys)
