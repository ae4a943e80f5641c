-- Escalations: what each one said (for the message and the audit trail), where
-- it was sent, and indexes for the set-based escalation pass.

ALTER TABLE onboarding.escalations
    ADD COLUMN details          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN notify_role      text,
    ADD COLUMN notify_connection text,
    ADD COLUMN last_attempt_at  timestamptz;

-- The pass resolves open escalations whose stage moved on.
CREATE INDEX escalations_unresolved ON onboarding.escalations (kind, onboarding_id) WHERE resolved_at IS NULL;
CREATE INDEX escalations_by_onboarding ON onboarding.escalations (onboarding_id, raised_at);

-- The pass reads every open onboarding once; this covers its columns.
CREATE INDEX onboardings_open_clock ON onboarding.onboardings (id)
    INCLUDE (tier, region, stage, stage_entered_at, stage_owner_email, activation_target)
    WHERE status = 'open';
