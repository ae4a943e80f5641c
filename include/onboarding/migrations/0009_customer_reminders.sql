-- Customer reminders: which reminder of the tier's cadence went out for which
-- stretch without progress, so a pass knows what is due next; and the report
-- table of how customers respond (reminders sent, time to answer).

-- One row per reminder queued by the cadence.  A stretch without progress starts
-- at the checklist request or the customer's last submission (quiet_since); a
-- submission starts a new stretch and the count restarts at 1.
CREATE TABLE onboarding.customer_reminders (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    quiet_since    timestamptz NOT NULL,
    reminder       integer     NOT NULL CHECK (reminder >= 1),   -- its place in the tier's cadence
    contact_email  text        NOT NULL,
    open_items     text[]      NOT NULL,
    outbox_id      bigint      NOT NULL REFERENCES onboarding.outbox (id),
    queued_at      timestamptz NOT NULL,
    UNIQUE (onboarding_id, quiet_since, reminder)
);

-- At most one reminder per business day per contact: the pass reads the last day's reminders.
CREATE INDEX outbox_reminders_recent ON onboarding.outbox (queued_at) WHERE kind = 'reminder';

-- How customers respond, per tier and for all tiers.
CREATE TABLE reporting.customer_response (
    report_date                         date    NOT NULL,
    tier                                text    NOT NULL,   -- a tier, or 'all'
    checklists_requested                integer NOT NULL,
    reminders_sent                      integer NOT NULL,
    accounts_reminded                   integer NOT NULL,
    reminders_answered                  integer NOT NULL,   -- a submission followed the reminder
    median_business_days_reminder_to_submission double precision,
    first_submissions                   integer NOT NULL,
    awaiting_first_submission           integer NOT NULL,
    median_business_days_to_first_submission double precision,
    p90_business_days_to_first_submission    double precision,
    rejections                          integer NOT NULL,
    resubmitted                         integer NOT NULL,
    awaiting_resubmission               integer NOT NULL,
    median_business_days_to_resubmission double precision,
    p90_business_days_to_resubmission    double precision,
    PRIMARY KEY (report_date, tier)
);
