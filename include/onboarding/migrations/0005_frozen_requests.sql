-- Each setup step's create request is frozen with its idempotency key the first
-- time it is built: a retry re-sends exactly what was sent, even when the order
-- changed in between (a vendor refuses a reused key with other parameters).
-- The send times tell a retry whether an earlier request may have taken effect,
-- and how long the vendor's search may still hide what it created.

ALTER TABLE onboarding.setup_steps
    ADD COLUMN request        jsonb,
    ADD COLUMN first_sent_at  timestamptz,
    ADD COLUMN last_sent_at   timestamptz,
    ADD COLUMN sends          integer NOT NULL DEFAULT 0;
