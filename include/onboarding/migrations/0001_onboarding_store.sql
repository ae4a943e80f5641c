-- The onboarding store: the source of truth for every account's onboarding.
-- Airflow's metadata database only knows about runs; everything a person needs
-- to explain an account's status lives here.

CREATE TABLE onboarding.onboardings (
    id                    bigserial PRIMARY KEY,
    onboarding_key        text        NOT NULL UNIQUE,   -- e.g. hubspot-18231; run ids derive from it
    crm_source            text        NOT NULL,
    crm_deal_id           text        NOT NULL,
    order_number          text,
    account_name          text        NOT NULL,
    account_domain        text,
    tier                  text        NOT NULL,
    region                text        NOT NULL,
    segment               text,
    addons                text[]      NOT NULL DEFAULT '{}',
    amount                numeric(14, 2),
    currency              text,
    partner_name          text,
    primary_contact_name  text,
    primary_contact_email text        NOT NULL,
    sales_owner_id        text,
    owner_email           text        NOT NULL,          -- the named onboarding owner
    stage                 text        NOT NULL,
    stage_owner_email     text        NOT NULL,
    stage_entered_at      timestamptz NOT NULL,
    status                text        NOT NULL DEFAULT 'open'
                          CHECK (status IN ('open', 'live', 'cancelled')),
    signed_at             timestamptz NOT NULL,
    activation_target     date        NOT NULL,
    target_source         text        NOT NULL CHECK (target_source IN ('committed', 'tier_default')),
    crm_modified_at       timestamptz NOT NULL,
    order_fingerprint     text        NOT NULL,
    order_payload         jsonb       NOT NULL,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    live_at               timestamptz,
    UNIQUE (crm_source, crm_deal_id)
);
-- One onboarding per signed order number: a second deal reusing it is a duplicate.
CREATE UNIQUE INDEX onboardings_order_number_key
    ON onboarding.onboardings (crm_source, order_number) WHERE order_number IS NOT NULL;
CREATE INDEX onboardings_open_by_stage ON onboarding.onboardings (tier, stage) WHERE status = 'open';
CREATE INDEX onboardings_open_by_target ON onboarding.onboardings (activation_target) WHERE status = 'open';

-- Who owned which stage when.  Exactly one open row (exited_at IS NULL) per onboarding.
CREATE TABLE onboarding.stage_history (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    stage          text        NOT NULL,
    owner_email    text        NOT NULL,
    owner_role     text        NOT NULL,
    entered_at     timestamptz NOT NULL,
    exited_at      timestamptz,
    reason         text,
    CHECK (exited_at IS NULL OR exited_at >= entered_at)
);
CREATE UNIQUE INDEX stage_history_current ON onboarding.stage_history (onboarding_id) WHERE exited_at IS NULL;
CREATE INDEX stage_history_by_onboarding ON onboarding.stage_history (onboarding_id, entered_at);

-- The structured checklist: one row per required input of one account.
CREATE TABLE onboarding.checklist_items (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    item_key       text        NOT NULL,
    label          text        NOT NULL,
    item_type      text        NOT NULL,
    critical       boolean     NOT NULL,
    status         text        NOT NULL DEFAULT 'missing'
                   CHECK (status IN ('missing', 'received', 'verified', 'rejected', 'waived')),
    value          jsonb,
    rejection_reason text,
    submissions    integer     NOT NULL DEFAULT 0,
    requested_at   timestamptz,
    received_at    timestamptz,
    verified_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    UNIQUE (onboarding_id, item_key)
);
CREATE INDEX checklist_items_open ON onboarding.checklist_items (onboarding_id) WHERE status <> 'verified';

-- Internal approvals (deal desk, security review, ...).
CREATE TABLE onboarding.approvals (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    approval_key   text        NOT NULL,
    label          text        NOT NULL,
    approver_role  text        NOT NULL,
    status         text        NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'approved', 'rejected')),
    decided_by     text,
    decided_at     timestamptz,
    comment        text,
    requested_at   timestamptz NOT NULL,
    UNIQUE (onboarding_id, approval_key)
);

-- Downstream setup calls.  The idempotency key is sent to the API (or used to
-- look the object up) and the external id is stored the moment it returns.
CREATE TABLE onboarding.setup_steps (
    id               bigserial PRIMARY KEY,
    onboarding_id    bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    step_key         text        NOT NULL,
    kind             text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'in_progress', 'done', 'failed', 'skipped')),
    idempotency_key  text        NOT NULL UNIQUE,
    external_id      text,
    external_url     text,
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    started_at       timestamptz,
    completed_at     timestamptz,
    updated_at       timestamptz NOT NULL,
    UNIQUE (onboarding_id, step_key)
);

-- Escalations raised to a named person; lag is measured from these timestamps.
CREATE TABLE onboarding.escalations (
    id               bigserial PRIMARY KEY,
    onboarding_id    bigint REFERENCES onboarding.onboardings (id),
    subject          text        NOT NULL,   -- onboarding key, or the quarantined order
    stage            text,
    kind             text        NOT NULL
                     CHECK (kind IN ('sla_breach', 'at_risk', 'unowned', 'failure', 'deadline', 'quarantine')),
    level            integer     NOT NULL DEFAULT 1,
    notify_email     text        NOT NULL,
    reason           text        NOT NULL,
    breach_at        timestamptz,
    raised_at        timestamptz NOT NULL,
    delivery_status  text        NOT NULL DEFAULT 'pending'
                     CHECK (delivery_status IN ('pending', 'delivered', 'undelivered')),
    delivery_attempts integer    NOT NULL DEFAULT 0,
    delivered_at     timestamptz,
    last_delivery_error text,
    resolved_at      timestamptz,
    resolution       text,
    dedupe_key       text        NOT NULL UNIQUE
);
CREATE INDEX escalations_open ON onboarding.escalations (onboarding_id) WHERE resolved_at IS NULL;
CREATE INDEX escalations_undelivered ON onboarding.escalations (raised_at) WHERE delivery_status <> 'delivered';

-- Orders the intake could not accept.  Never dropped: each waits here, with its
-- reasons, until a person fixes it in the CRM (the next pickup resolves it).
CREATE TABLE onboarding.quarantined_orders (
    id                 bigserial PRIMARY KEY,
    crm_source         text        NOT NULL,
    crm_deal_id        text        NOT NULL,
    order_number       text,
    crm_modified_at    timestamptz,
    payload            jsonb       NOT NULL,
    payload_fingerprint text       NOT NULL,
    reasons            jsonb       NOT NULL,   -- [{"field": ..., "problem": ...}]
    status             text        NOT NULL DEFAULT 'open'
                       CHECK (status IN ('open', 'resolved', 'dismissed')),
    first_seen_at      timestamptz NOT NULL,
    last_seen_at       timestamptz NOT NULL,
    first_batch_id     text        NOT NULL,
    last_batch_id      text        NOT NULL,
    seen_in_batches    integer     NOT NULL DEFAULT 1,
    resolved_at        timestamptz,
    resolution         text,
    UNIQUE (crm_source, crm_deal_id, payload_fingerprint)
);
CREATE INDEX quarantined_orders_open ON onboarding.quarantined_orders (first_seen_at) WHERE status = 'open';

-- Intake bookkeeping: how far the pickup has read, and what each pickup staged.
CREATE TABLE onboarding.intake_watermarks (
    source       text PRIMARY KEY,
    high_water   timestamptz NOT NULL,
    batch_id     text        NOT NULL,
    updated_at   timestamptz NOT NULL
);

CREATE TABLE onboarding.intake_batches (
    batch_id       text PRIMARY KEY,           -- the Airflow run id of the pickup
    source         text        NOT NULL,
    status         text        NOT NULL CHECK (status IN ('pulling', 'pulled', 'processed', 'committed')),
    read_from      timestamptz NOT NULL,
    high_water     timestamptz,
    fetched        integer     NOT NULL DEFAULT 0,
    counts         jsonb       NOT NULL DEFAULT '{}',
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz
);

CREATE TABLE onboarding.intake_batch_orders (
    batch_id        text        NOT NULL REFERENCES onboarding.intake_batches (batch_id) ON DELETE CASCADE,
    position        integer     NOT NULL,
    crm_deal_id     text,
    crm_modified_at timestamptz,
    record          jsonb       NOT NULL,
    PRIMARY KEY (batch_id, position)
);

-- The audit trail.  Append-only: the database itself refuses UPDATE, DELETE and
-- TRUNCATE, so the history an account team reads cannot be rewritten.
CREATE TABLE onboarding.events (
    id              bigserial PRIMARY KEY,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    onboarding_id   bigint REFERENCES onboarding.onboardings (id),
    subject         text        NOT NULL,   -- onboarding key, quarantined order, or "intake"
    event_type      text        NOT NULL,
    stage           text,
    stage_owner     text,
    actor           text        NOT NULL,
    details         jsonb       NOT NULL DEFAULT '{}',
    dedupe_key      text UNIQUE             -- a retried task records an event once
);
CREATE INDEX events_by_onboarding ON onboarding.events (onboarding_id, occurred_at);
CREATE INDEX events_by_type ON onboarding.events (event_type, occurred_at);
CREATE INDEX events_by_subject ON onboarding.events (subject, occurred_at);

CREATE FUNCTION onboarding.refuse_event_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'onboarding.events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a new event instead of changing or removing an old one.';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON onboarding.events
    FOR EACH ROW EXECUTE FUNCTION onboarding.refuse_event_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON onboarding.events
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.refuse_event_change();

-- What a person looks at first: orders waiting on a fix, newest first.
CREATE VIEW onboarding.open_quarantine AS
SELECT crm_source, crm_deal_id, order_number, reasons, first_seen_at, last_seen_at, seen_in_batches
FROM onboarding.quarantined_orders
WHERE status = 'open'
ORDER BY last_seen_at DESC;
