-- The onboarding board, and where the days went.
--
-- board_accounts: the board's row for each open account, what its list sorts
-- and filters fifty thousand accounts by in one scan of a narrow table: the
-- account's tier, stage, owners and whether it is blocked, and when its
-- current stage needs attention, as instants.  The rows are written by the
-- board (include/board/clocks.py) with the escalation pass's business-time
-- rules; the triggers below never compute anything, they only count a change
-- (changes > measured) when something a row depends on was written: the
-- account's stage, owners, region, tier, target, status or blocked reason, a
-- checklist item's status, request or verification (the customer's turn stops
-- some clocks), or a setup step's status.  The board re-measures just those
-- accounts before it reads.

CREATE TABLE onboarding.board_accounts (
    onboarding_id     bigint PRIMARY KEY REFERENCES onboarding.onboardings (id),
    changes           bigint      NOT NULL DEFAULT 1,   -- counted by the triggers
    measured          bigint      NOT NULL DEFAULT 0,   -- the count the columns below were written at
    tier              text,
    stage             text,
    stage_owner_email text,
    owner_email       text,
    blocked           boolean,              -- the readiness gate names a reason, or a setup step failed
    sla_due_at        timestamptz,          -- the stage's SLA runs out (empty while the customer's turn stops it)
    clock_started_at  timestamptz,          -- the stage clock runs from here (empty while it is stopped) ...
    clock_offset_seconds double precision,  -- ... on top of this much business time it ran before
    risk_from         timestamptz,          -- from then on the rest of the path no longer fits before the target
    attention_at      timestamptz,          -- the earlier of the two: the board's urgency order
    measured_at       timestamptz
);
CREATE INDEX board_accounts_stale ON onboarding.board_accounts (onboarding_id) WHERE changes <> measured;
CREATE INDEX board_accounts_attention ON onboarding.board_accounts (attention_at, onboarding_id);

-- What the rows were computed with (stage SLAs, regions, calendars): a new
-- configuration re-measures every row once.
CREATE TABLE onboarding.board_basis (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    fingerprint  text        NOT NULL,
    changed_at   timestamptz NOT NULL
);

-- Statement-level, over the rows each statement wrote, so an intake writing ten
-- thousand accounts counts them in one INSERT, not ten thousand.
CREATE FUNCTION onboarding.board_count_accounts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT n.id FROM new_rows n ORDER BY n.id
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    ELSE
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.stage, n.stage_entered_at, n.stage_owner_email, n.owner_email, n.status, n.tier, n.region,
               n.activation_target, n.blocked_reason)
              IS DISTINCT FROM (o.stage, o.stage_entered_at, o.stage_owner_email, o.owner_email, o.status, o.tier,
                                o.region, o.activation_target, o.blocked_reason)
        ORDER BY n.id
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    END IF;
    RETURN NULL;
END;
$$;

-- Checklist items (the customer's turn) and setup steps (failed or not) of an account.
CREATE FUNCTION onboarding.board_count_parts() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT DISTINCT n.onboarding_id FROM new_rows n ORDER BY 1
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    ELSIF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'checklist_items' THEN
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT DISTINCT n.onboarding_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.status, n.critical, n.requested_at, n.verified_at)
              IS DISTINCT FROM (o.status, o.critical, o.requested_at, o.verified_at)
        ORDER BY 1
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT DISTINCT n.onboarding_id FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (n.status = 'failed') IS DISTINCT FROM (o.status = 'failed')
        ORDER BY 1
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    ELSE
        INSERT INTO onboarding.board_accounts AS b (onboarding_id)
        SELECT DISTINCT o.onboarding_id FROM old_rows o ORDER BY 1
        ON CONFLICT (onboarding_id) DO UPDATE SET changes = b.changes + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER board_new_accounts AFTER INSERT ON onboarding.onboardings
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_accounts();
CREATE TRIGGER board_changed_accounts AFTER UPDATE ON onboarding.onboardings
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_accounts();
CREATE TRIGGER board_new_items AFTER INSERT ON onboarding.checklist_items
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_parts();
CREATE TRIGGER board_changed_items AFTER UPDATE ON onboarding.checklist_items
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_parts();
CREATE TRIGGER board_removed_items AFTER DELETE ON onboarding.checklist_items
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_parts();
CREATE TRIGGER board_new_steps AFTER INSERT ON onboarding.setup_steps
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_parts();
CREATE TRIGGER board_changed_steps AFTER UPDATE ON onboarding.setup_steps
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION onboarding.board_count_parts();

-- Accounts open before this migration start out unmeasured.
INSERT INTO onboarding.board_accounts (onboarding_id)
SELECT id FROM onboarding.onboardings WHERE status = 'open' ORDER BY id;

-- Where the days went: every account's elapsed business time split into waiting on
-- the customer, on internal approvals, setup and vendor work, failures and retries,
-- and idle time between stages (include/onboarding/time_split.py), aggregated.
CREATE TABLE reporting.time_split (
    report_date     date    NOT NULL,
    dimension       text    NOT NULL,   -- all, tier, segment
    value           text    NOT NULL,
    status          text    NOT NULL,   -- live (signed to live), open (signed to the report date so far)
    category        text    NOT NULL,   -- customer, approvals, setup, failures, idle
    accounts        integer NOT NULL,
    mean_business_days   double precision NOT NULL,
    total_business_days  double precision NOT NULL,
    share_pct       double precision NOT NULL,   -- of all the elapsed business time of those accounts
    PRIMARY KEY (report_date, dimension, value, status, category)
);
