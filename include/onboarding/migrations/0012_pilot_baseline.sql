-- The pilot and its economics: which signed orders the automation takes (settings.yaml
-- `pilot:`), the orders it left out, the company's historical onboardings it is compared
-- with, and the before/after report.

-- Each pickup records the pilot scope it applied (a hash of its include and exclude rules),
-- so a change of scope is visible and the next pickup re-reads the orders it left out.
ALTER TABLE onboarding.intake_batches ADD COLUMN scope_fingerprint text;

-- Signed orders outside the pilot scope: counted, never quarantined, never started.  A row
-- stays until a wider scope takes the order in (taken_at, onboarding_key).
CREATE TABLE onboarding.out_of_pilot_orders (
    crm_source        text        NOT NULL,
    crm_deal_id       text        NOT NULL,
    order_number      text,
    account_name      text        NOT NULL,
    tier              text        NOT NULL,
    region            text        NOT NULL,
    segment           text,
    addons            text[]      NOT NULL DEFAULT '{}',
    signed_at         timestamptz NOT NULL,
    crm_modified_at   timestamptz NOT NULL,
    order_fingerprint text        NOT NULL,
    scope_fingerprint text        NOT NULL,   -- the scope that left it out (last time it was seen)
    first_seen_at     timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    last_batch_id     text        NOT NULL,
    taken_at          timestamptz,            -- a wider scope made it an onboarding
    onboarding_key    text,
    PRIMARY KEY (crm_source, crm_deal_id)
);
CREATE INDEX out_of_pilot_waiting ON onboarding.out_of_pilot_orders (crm_source, crm_modified_at)
    WHERE taken_at IS NULL;

-- The company's onboardings before the automation, imported from a CRM or spreadsheet export
-- (python -m include.onboarding.baseline import-baseline FILE, or the onboarding_baseline DAG).
CREATE TABLE onboarding.baseline_imports (
    id             bigserial   PRIMARY KEY,
    file_name      text        NOT NULL,
    file_sha256    text        NOT NULL,
    day_first      boolean     NOT NULL,
    imported_at    timestamptz NOT NULL,
    rows_read      integer     NOT NULL,
    rows_loaded    integer     NOT NULL,   -- new or changed
    rows_unchanged integer     NOT NULL,
    rows_rejected  integer     NOT NULL
);

-- One historical onboarding per account and signing date: re-importing a file changes nothing,
-- a corrected export replaces the rows it corrects.
CREATE TABLE onboarding.baseline_onboardings (
    id                bigserial   PRIMARY KEY,
    account_key       text        NOT NULL,   -- the account name, trimmed, spaces collapsed, case folded
    account           text        NOT NULL,
    signed_on         date        NOT NULL,
    tier              text        NOT NULL,
    segment           text,
    region            text        NOT NULL,
    first_value_on    date,
    live_on           date,
    touches           integer     CHECK (touches >= 0),
    checklist_tracked boolean,
    row_fingerprint   text        NOT NULL,
    import_id         bigint      NOT NULL REFERENCES onboarding.baseline_imports (id),
    source_row        integer     NOT NULL,
    loaded_at         timestamptz NOT NULL,
    UNIQUE (account_key, signed_on),
    CHECK (first_value_on IS NULL OR first_value_on >= signed_on),
    CHECK (live_on IS NULL OR live_on >= signed_on)
);

-- Every row an import refused, with the row number, the column and why: nothing is dropped silently.
CREATE TABLE onboarding.baseline_rejections (
    import_id   bigint  NOT NULL REFERENCES onboarding.baseline_imports (id),
    source_row  integer NOT NULL,   -- the line of the file (the header is line 1)
    column_name text    NOT NULL,
    value       text,
    problem     text    NOT NULL,
    PRIMARY KEY (import_id, source_row, column_name)
);

-- The brief's before/after table, measured: baseline against onboardings under the automation,
-- overall (scope 'all') and for the pilot's scope ('pilot').
CREATE TABLE reporting.pilot_before_after (
    report_date      date    NOT NULL,
    scope            text    NOT NULL,   -- all, pilot
    scope_name       text    NOT NULL,
    metric           text    NOT NULL,   -- time_to_first_value, time_to_live, manual_touches, checklist_visible, escalation_lag
    unit             text    NOT NULL,
    before_accounts  integer NOT NULL,
    before_median    double precision,
    before_p75       double precision,
    before_p90       double precision,
    before_share_pct double precision,
    after_accounts   integer NOT NULL,
    after_median     double precision,
    after_p75        double precision,
    after_p90        double precision,
    after_share_pct  double precision,
    minimum_accounts integer NOT NULL,
    enough           boolean NOT NULL,   -- both sides have at least minimum_accounts
    note             text,
    PRIMARY KEY (report_date, scope, metric)
);
