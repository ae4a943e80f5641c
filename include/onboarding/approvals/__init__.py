"""Internal approvals (deal desk, security review, ...) as Airflow Human-in-the-loop tasks.

Each approval a tier file lists is one task of the tier DAG,
``approve_<approval>`` (:class:`~.operator.OnboardingApprovalOperator`, an
``ApprovalOperator``).  When the account's inputs are in, the task asks the
person who holds the approver role for the account's region: the request shows
up for them in the Airflow UI under Browse -> Required Actions (and in
``GET /api/v2/dags/~/dagRuns/~/hitlDetails``), with the account, what to check
and the verified evidence, and the SLA; their Slack webhook gets a notice with
a link to it.  Only they can answer, in the UI or with
``PATCH /api/v2/dags/{dag}/dagRuns/{run}/taskInstances/{task}/-1/hitlDetails``;
anyone else gets 403.  While it waits, the task holds no worker slot.

Where each part lives: asking (approver, stage, deadlines, the request) in
:mod:`.asking`, the deadlines in business time in :mod:`.timing`, the page the
approver reads in :mod:`.review`, the Slack notice in :mod:`.notice`, answers
and expiries in :mod:`.answers`, their escalations in :mod:`.escalate`, the
store's approvals table and audit events in :mod:`.records`.

The decision, who made it, when and the comment are in
``onboarding.approvals`` and the audit trail.  A rejection keeps the readiness
gate closed and goes to the stage owner with the approver's words; a request
nobody answers expires after its timeout in business days and is escalated.
Clearing the task asks again; an approval once given is not asked twice.
"""
