-- A customer who has sent nothing for a while is escalated to the stage owner
-- (kind 'silent'), so a quiet account surfaces long before its target slips.

ALTER TABLE onboarding.escalations DROP CONSTRAINT escalations_kind_check;
ALTER TABLE onboarding.escalations ADD CONSTRAINT escalations_kind_check
    CHECK (kind IN ('sla_breach', 'at_risk', 'unowned', 'failure', 'deadline', 'quarantine', 'silent'));
