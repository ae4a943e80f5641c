-- Approvals are answered in Airflow's Required Actions: a rejection goes to the
-- stage owner with the approver's words (kind 'approval_rejected'), and a
-- request nobody answered in time is escalated when it expires ('approval_expired').

ALTER TABLE onboarding.escalations DROP CONSTRAINT escalations_kind_check;
ALTER TABLE onboarding.escalations ADD CONSTRAINT escalations_kind_check
    CHECK (kind IN ('sla_breach', 'at_risk', 'unowned', 'failure', 'deadline', 'quarantine', 'silent',
                    'approval_rejected', 'approval_expired'));
