"""Local stand-ins for the third-party systems the onboarding DAGs talk to.

Each simulated system answers in its vendor's real API shape (paths, bodies,
errors, paging), so pointing an Airflow connection at the sandbox instead of
the vendor is the only change between a demo or test and production.  On top
of the vendor APIs, an admin API under ``/_sandbox`` seeds realistic data,
schedules faults (rate limits, 5xx, truncated bodies, slow or hanging answers)
and records every request, so retry and back-off behaviour can be tested.

Systems (one module each, by fault/log name): ``crm`` (HubSpot deals),
``ticketing`` (Jira Cloud), ``billing`` (Stripe customers), ``provisioning``
(the product's SCIM 2.0 and tenant APIs) and ``slack`` (incoming webhooks),
each described to the app and the fault layer by a ``SandboxSystem`` (:mod:`.systems`).
Beside them, a real SMTP server (:mod:`.mail`) keeps every email sent to
customers, and simulated customers (:mod:`.customers`) read that mail, open
the magic link and answer through the portal's own forms, as people do.

Start it in-process with ``sandbox.server.SandboxServer`` or from a
shell with ``python -m sandbox``.
"""
