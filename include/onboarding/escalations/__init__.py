"""Escalations: stalled, failing and unowned accounts routed to a named person.

One pass (:func:`~.pass_.run_pass`, the ``onboarding_escalations`` DAG) looks
at every open onboarding at once.  It

* raises an SLA breach when a stage's business-time clock passes a rung of the
  tier's escalation ladder (stage owner at 100 %, their manager at 150 %, ...),
  each rung once per stage;
* forecasts slips: when the business time the remaining stages need exceeds
  the business time left before the activation target, the named owner hears
  "at risk" while there is still time to act;
* chases a customer who has gone silent through the stage owner;
* catches accounts whose stage owner is not (or no longer) a known person, and
  tells the ops lead;
* reports orders waiting in quarantine to the ops lead;
* resolves escalations whose stage moved on (or whose cause went away),
  keeping breach, escalation and resolution times so escalation lag is known.

Where each part lives: business time and SLAs in :mod:`.sla`, what is due in
:mod:`.ladder`, who hears it in :mod:`.routing`, what it says in
:mod:`.wording`, the escalations table in :mod:`.persistence`.  Failure
callbacks and deadline alerts raise escalations through the same
:func:`~.persistence.raise_escalations` (:mod:`.failures`); delivery is
:mod:`include.onboarding.notify`.
"""

from include.onboarding.escalations.failures import account_escalation
from include.onboarding.escalations.pass_ import PassSummary, find, run_pass
from include.onboarding.escalations.persistence import ACTOR, NewEscalation, raise_escalations, resolve
from include.onboarding.escalations.routing import recipient, run_url
from include.onboarding.escalations.sla import customer_pause_join, load_open, measure

__all__ = [
    "ACTOR",
    "NewEscalation",
    "PassSummary",
    "account_escalation",
    "customer_pause_join",
    "find",
    "load_open",
    "measure",
    "raise_escalations",
    "recipient",
    "resolve",
    "run_pass",
    "run_url",
]
