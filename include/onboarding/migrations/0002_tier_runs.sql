-- Per-account runs of the tier DAGs: which Airflow run carries each onboarding,
-- the customer's checklist request, and who owns the account after go-live.

ALTER TABLE onboarding.onboardings
    ADD COLUMN run_id              text,
    ADD COLUMN run_triggered_at    timestamptz,
    ADD COLUMN forms_request_id    text,
    ADD COLUMN forms_request_url   text,
    ADD COLUMN post_owner_email    text,
    ADD COLUMN blocked_reason      text;

-- The intake starts a run for every open onboarding that has none yet.
CREATE INDEX onboardings_awaiting_run ON onboarding.onboardings (created_at)
    WHERE status = 'open' AND run_triggered_at IS NULL;

ALTER TABLE onboarding.checklist_items
    ADD COLUMN last_submission_id  text,
    ADD COLUMN last_submission_at  timestamptz;

ALTER TABLE onboarding.setup_steps
    ADD COLUMN depends_on          text[] NOT NULL DEFAULT '{}';

-- Every submission the customer made, valid or not, with the verdict.
CREATE TABLE onboarding.submissions (
    id               bigserial PRIMARY KEY,
    onboarding_id    bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    item_key         text        NOT NULL,
    submission_id    text        NOT NULL,
    submitted_at     timestamptz,
    value            jsonb,
    verdict          text        NOT NULL CHECK (verdict IN ('verified', 'rejected', 'ignored')),
    reason           text,
    recorded_at      timestamptz NOT NULL,
    UNIQUE (onboarding_id, submission_id)
);
