"""Batch pickup of signed orders: CRM -> onboarding store.

A pickup has three steps, each safe to retry or clear:

1. :func:`~.pull.pull_orders` stages the deals changed since the watermark;
2. :func:`~.process.process_batch` judges each staged record against the
   per-field rules of :mod:`.rules` and writes the verdicts: good orders
   become onboardings with a named owner and an activation target, bad ones
   go to quarantine with every reason found (:mod:`.plan`, :mod:`.writes`,
   :mod:`.quarantine`);
3. :func:`~.commit.commit_batch` moves the watermark, only once processing
   succeeded.

Then :mod:`.runs` starts one tier run per new onboarding.  One bad order never
stops the others; only a failure of the CRM or of the store itself fails a
pickup.
"""

from include.onboarding.intake.cleaning import clean_record, clean_text, error_text, order_at_fault
from include.onboarding.intake.commit import commit_batch
from include.onboarding.intake.orders import IMMUTABLE_FIELDS, Order, Problem, Rejected, deal_key, record_fingerprint
from include.onboarding.intake.process import process_batch
from include.onboarding.intake.pull import pull_orders
from include.onboarding.intake.quarantine import open_quarantine
from include.onboarding.intake.rules import RULES, FieldRule, judge, normalise
from include.onboarding.intake.runs import MAX_RUNS_PER_PICKUP, mark_runs_started, runs_to_start
from include.onboarding.intake.summary import ProcessSummary, PullSummary
from include.onboarding.names import run_id_for

__all__ = [
    "IMMUTABLE_FIELDS",
    "MAX_RUNS_PER_PICKUP",
    "RULES",
    "FieldRule",
    "Order",
    "Problem",
    "ProcessSummary",
    "PullSummary",
    "Rejected",
    "clean_record",
    "clean_text",
    "commit_batch",
    "deal_key",
    "error_text",
    "judge",
    "mark_runs_started",
    "normalise",
    "open_quarantine",
    "order_at_fault",
    "process_batch",
    "pull_orders",
    "record_fingerprint",
    "run_id_for",
    "runs_to_start",
]
