"""Which escalations a measured account is due: the rungs of its tier's ladder and the other kinds.

Pure: from :func:`~.sla.measure`'s frame and the configuration, one candidate
row per escalation due (``row`` of the frame, ``kind``, ``level``, ``notify``,
``percent``, ``dedupe``):

* ``sla_breach``: each rung of the tier's escalation ladder whose share of the
  stage SLA the clock has reached (stage owner at 100 %, their manager at
  150 %, ...), once per stage and rung;
* ``at_risk``: the business time the remaining stages need exceeds the
  business time left before the activation target (and no breach yet);
* ``silent``: the customer has sent nothing for
  ``customer_silent_business_days`` while critical inputs are out, once per
  stretch of silence;
* ``unowned``: the stage owner is not a known person, or nobody owns the
  stage (no plan for the tier, region and stage).

The dedupe keys make each one due once; the pass leaves out those already raised.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from include.onboarding.config import OnboardingConfig

CANDIDATE_COLUMNS = ("row", "kind", "level", "notify", "percent", "dedupe")


@dataclass(frozen=True)
class Counts:
    """How many accounts are in each condition (whether or not their escalation was raised before)."""

    breached: int
    at_risk: int
    unowned: int
    silent: int


def due(frame: pd.DataFrame, config: OnboardingConfig) -> tuple[pd.DataFrame, Counts]:
    """The escalations due for the measured accounts of ``frame``, and how many accounts are in each condition."""
    settings = config.settings
    planned = frame["planned"].astype(bool)
    unowned = ~frame["stage_owner_email"].isin(set(settings.people_by_email)) | ~planned
    breached = planned & (frame["sla_percent"] >= 100.0)
    risky = planned & (frame["needed_seconds"] > frame["left_seconds"]) & ~breached
    silent_after = settings.escalations.customer_silent_business_days * frame["day_seconds"]
    silent = planned & (frame["quiet_seconds"] >= silent_after)
    counts = Counts(int(breached.sum()), int(risky.sum()), int(unowned.sum()), int(silent.sum()))

    key_stage = frame["onboarding_key"] + ":" + frame["stage"]
    parts: list[pd.DataFrame] = []

    def add(mask: pd.Series, kind: str, level: int, notify: str, percent: float, dedupe: pd.Series) -> None:
        if mask.any():
            parts.append(
                pd.DataFrame(
                    {
                        "row": frame.index[mask],
                        "kind": kind,
                        "level": level,
                        "notify": notify,
                        "percent": percent,
                        "dedupe": dedupe[mask].to_numpy(),
                    }
                )  # fmt: skip
            )

    for tier in config.tiers.values():
        in_tier = planned & (frame["tier"] == tier.key)
        for level, rung in enumerate(tier.escalation_ladder, start=1):
            mask = in_tier & (frame["sla_percent"] >= rung.at_percent_of_sla)
            add(mask, "sla_breach", level, rung.notify, rung.at_percent_of_sla, "sla_breach:" + key_stage + f":{level}")
    add(risky, "at_risk", 1, "named_owner", 0.0, "at_risk:" + key_stage)
    # Once per stretch of silence: a customer who answers and goes quiet again is chased again.
    quiet_mark = frame["quiet_since"].map(lambda t: f"{t.timestamp():.0f}" if pd.notna(t) else "")
    add(silent, "silent", 1, "stage_owner", 0.0, "silent:" + key_stage + ":" + quiet_mark)
    add(unowned, "unowned", 1, "ops_lead", 0.0, "unowned:" + key_stage + ":" + frame["stage_owner_email"])
    if not parts:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS)), counts
    return pd.concat(parts, ignore_index=True), counts
