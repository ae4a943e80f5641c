-- What staging found wrong with a CRM record before it could be stored: control
-- characters or unpaired surrogates (shown as visible symbols in the stored copy),
-- or a record PostgreSQL refused as JSON (kept as text instead).  Judging the
-- batch quarantines each such order with these reasons; nothing is dropped.
ALTER TABLE onboarding.intake_batch_orders
    ADD COLUMN problems jsonb NOT NULL DEFAULT '[]';   -- [{"field": ..., "problem": ...}]
