-- Metric tables for leadership, written by onboarding_reporting.  Every table is
-- keyed by report_date: a rerun or backfill of a date replaces that date's rows.

CREATE SCHEMA IF NOT EXISTS reporting;

-- Time to value per account (signed -> setup complete = first value; signed -> live).
CREATE TABLE reporting.account_time_to_value (
    report_date                 date        NOT NULL,
    onboarding_key              text        NOT NULL,
    tier                        text        NOT NULL,
    segment                     text,
    region                      text        NOT NULL,
    cohort_month                text        NOT NULL,   -- month of signing, YYYY-MM
    status                      text        NOT NULL,   -- as of the report date
    signed_at                   timestamptz NOT NULL,
    first_value_at              timestamptz,
    live_at                     timestamptz,
    activation_target           date        NOT NULL,
    days_to_first_value         double precision,
    business_days_to_first_value integer,
    days_to_live                double precision,
    business_days_to_live       integer,
    on_time                     boolean,
    PRIMARY KEY (report_date, onboarding_key)
);

-- Median / p75 / p90 of the above by tier, segment, region and cohort month.
CREATE TABLE reporting.time_to_value_summary (
    report_date   date    NOT NULL,
    dimension     text    NOT NULL,   -- all, tier, segment, region, cohort_month
    value         text    NOT NULL,
    measure       text    NOT NULL,   -- first_value, live
    unit          text    NOT NULL,   -- calendar_days, business_days
    accounts      integer NOT NULL,
    median        double precision NOT NULL,
    p75           double precision NOT NULL,
    p90           double precision NOT NULL,
    PRIMARY KEY (report_date, dimension, value, measure, unit)
);

-- Every stage visit of every account, with its duration.
CREATE TABLE reporting.stage_durations (
    report_date     date        NOT NULL,
    onboarding_key  text        NOT NULL,
    tier            text        NOT NULL,
    stage           text        NOT NULL,
    entered_at      timestamptz NOT NULL,
    exited_at       timestamptz,          -- empty while the account is still in the stage
    calendar_days   double precision NOT NULL,
    business_days   double precision NOT NULL,   -- working time on the region's calendar
    sla_business_days double precision,          -- the stage's SLA in the same unit
    met_sla         boolean,                      -- empty while the stage is open and within SLA
    PRIMARY KEY (report_date, onboarding_key, stage, entered_at)
);

-- Which stages hold accounts up.
CREATE TABLE reporting.stage_bottlenecks (
    report_date             date    NOT NULL,
    tier                    text    NOT NULL,   -- a tier, or 'all'
    stage                   text    NOT NULL,
    rank                    integer NOT NULL,   -- 1 = most often the account's longest stage
    visits                  integer NOT NULL,
    times_longest           integer NOT NULL,
    median_business_days    double precision NOT NULL,
    p90_business_days       double precision NOT NULL,
    total_business_days     double precision NOT NULL,
    accounts_in_stage_now   integer NOT NULL,
    PRIMARY KEY (report_date, tier, stage)
);

-- Checklist completeness of every open account.
CREATE TABLE reporting.checklist_completeness (
    report_date          date    NOT NULL,
    onboarding_key       text    NOT NULL,
    tier                 text    NOT NULL,
    stage                text    NOT NULL,
    owner_email          text    NOT NULL,
    items                integer NOT NULL,
    received             integer NOT NULL,
    verified             integer NOT NULL,
    rejected             integer NOT NULL,
    missing              integer NOT NULL,
    percent_verified     double precision,
    critical_outstanding integer NOT NULL,
    PRIMARY KEY (report_date, onboarding_key)
);

-- SLA attainment per tier and stage, overall and by ISO week in which the stage ended.
CREATE TABLE reporting.sla_attainment (
    report_date     date    NOT NULL,
    tier            text    NOT NULL,   -- a tier, or 'all'
    stage           text    NOT NULL,
    week            date    NOT NULL,   -- Monday of the week the stages ended; 1970-01-05 for all weeks
    completed       integer NOT NULL,
    met             integer NOT NULL,
    attainment_pct  double precision NOT NULL,
    PRIMARY KEY (report_date, tier, stage, week)
);

-- Escalation lag by kind: breach -> escalation and escalation -> resolution.
CREATE TABLE reporting.escalation_lag (
    report_date                      date    NOT NULL,
    kind                             text    NOT NULL,
    escalations                      integer NOT NULL,
    open                             integer NOT NULL,
    accounts                         integer NOT NULL,
    median_breach_to_escalation_min  double precision,
    p90_breach_to_escalation_min     double precision,
    median_escalation_to_resolution_h double precision,
    p90_escalation_to_resolution_h   double precision,
    PRIMARY KEY (report_date, kind)
);

-- Exception-driven touches per account: people acting, and escalations raised.
CREATE TABLE reporting.exception_touches (
    report_date     date    NOT NULL,
    onboarding_key  text    NOT NULL,
    tier            text    NOT NULL,
    status          text    NOT NULL,
    manual_actions  integer NOT NULL,
    escalations     integer NOT NULL,
    touches         integer NOT NULL,
    PRIMARY KEY (report_date, onboarding_key)
);

-- Open accounts that are blocked or escalated, with who owns them and how late they are.
CREATE TABLE reporting.blocked_accounts (
    report_date            date    NOT NULL,
    onboarding_key         text    NOT NULL,
    account_name           text    NOT NULL,
    tier                   text    NOT NULL,
    stage                  text    NOT NULL,
    owner_email            text    NOT NULL,
    reason                 text    NOT NULL,
    days_blocked           double precision NOT NULL,
    activation_target      date    NOT NULL,
    days_to_target         integer NOT NULL,     -- negative: that many days late
    business_days_to_target integer NOT NULL,
    PRIMARY KEY (report_date, onboarding_key)
);

-- Onboardings started (signed order accepted) and completed (live) per ISO week.
CREATE TABLE reporting.throughput_weekly (
    report_date  date    NOT NULL,
    week         date    NOT NULL,   -- Monday
    started      integer NOT NULL,
    completed    integer NOT NULL,
    PRIMARY KEY (report_date, week)
);
