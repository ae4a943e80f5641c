"""The customer portal: one page per account, reached by a signed magic link from an email.

A customer sees their account, its named onboarding owner and how to reach
them, the go-live target and every checklist item with its status; each item
is judged the moment it is sent, by the same validators and recorded the same
way as every other submission (:func:`include.onboarding.checklist.judge_submission`),
so the engine sees a portal submission exactly as any other.  Documents go to
object storage (:mod:`include.portal.documents`), the customer's timeline is
the allow-listed part of the audit trail (:mod:`include.portal.timeline`).
It reads and writes the onboarding store only: no Airflow scheduler or
metadata database is needed, and nothing in it links to Airflow.

Run it as its own process::

    python -m include.portal --host 127.0.0.1 --port 8790

Entry points for the engine:

- invite a contact when the checklist is planned:
  ``mail.queue_invitation(store, config, onboarding_key, now)`` then ``mail.deliver_pending(store, config, now)``
  (:mod:`include.onboarding.mail`; reminders, rejection and go-live notices alike);
- end a contact's links: ``links.revoke_contact(store, onboarding_key, email, now, by, reason)``;
- the app itself, for tests or another server: ``app.create_app(...)``.
"""
