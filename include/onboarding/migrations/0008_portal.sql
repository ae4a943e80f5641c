-- The customer portal: magic links, their revocations, items forwarded to a
-- colleague, uploaded documents, and the outbox of email to customers.

-- Every magic link sent.  The link itself is signed (HMAC) and carries its own
-- expiry; this row is the record of who was sent what, not what makes it valid.
CREATE TABLE onboarding.portal_links (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    contact_email  text        NOT NULL,
    contact_name   text,
    scope          text        NOT NULL,   -- 'checklist', or 'items:<key>,<key>' for a forwarded link
    purpose        text        NOT NULL CHECK (purpose IN ('invitation', 'forward', 'reminder', 'resend')),
    issued_at      timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    issued_by      text        NOT NULL
);
CREATE INDEX portal_links_by_contact ON onboarding.portal_links (onboarding_id, lower(contact_email));

-- Revoking a contact ends every link issued to them before the revocation.
CREATE TABLE onboarding.portal_revocations (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    contact_email  text        NOT NULL,
    revoked_at     timestamptz NOT NULL,
    revoked_by     text        NOT NULL,
    reason         text
);
CREATE INDEX portal_revocations_by_contact ON onboarding.portal_revocations (onboarding_id, lower(contact_email));

-- Items a customer forwarded to a colleague, with the link scoped to them.
CREATE TABLE onboarding.portal_forwards (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    from_email     text        NOT NULL,
    to_email       text        NOT NULL,
    to_name        text        NOT NULL,
    items          text[]      NOT NULL,
    link_id        bigint      NOT NULL REFERENCES onboarding.portal_links (id),
    created_at     timestamptz NOT NULL
);

-- Documents uploaded through the portal.  The file is in object storage at
-- storage_url; its type is what its first bytes say, not what the browser said.
CREATE TABLE onboarding.documents (
    id             bigserial PRIMARY KEY,
    onboarding_id  bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    item_key       text        NOT NULL,
    submission_id  text        NOT NULL,
    filename       text        NOT NULL,
    content_type   text        NOT NULL,
    size_bytes     bigint      NOT NULL CHECK (size_bytes >= 0),
    sha256         text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    storage_url    text        NOT NULL,
    uploaded_by    text        NOT NULL,
    uploaded_at    timestamptz NOT NULL,
    UNIQUE (onboarding_id, submission_id)
);
CREATE INDEX documents_by_item ON onboarding.documents (onboarding_id, item_key);

-- Email to customers.  Queued in the same transaction as what it tells; a
-- delivery pass sends pending mail and, when the server is down, leaves it
-- pending with the error: mail is delayed, never lost.
CREATE TABLE onboarding.outbox (
    id               bigserial PRIMARY KEY,
    onboarding_id    bigint      NOT NULL REFERENCES onboarding.onboardings (id),
    kind             text        NOT NULL
                     CHECK (kind IN ('invitation', 'rejection', 'reminder', 'go_live', 'forward')),
    to_email         text        NOT NULL,
    to_name          text,
    subject          text        NOT NULL,
    body_text        text        NOT NULL,
    body_html        text        NOT NULL,
    status           text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent')),
    attempts         integer     NOT NULL DEFAULT 0,
    last_error       text,
    last_attempt_at  timestamptz,
    queued_at        timestamptz NOT NULL,
    sent_at          timestamptz,
    dedupe_key       text        NOT NULL UNIQUE
);
CREATE INDEX outbox_pending ON onboarding.outbox (queued_at) WHERE status = 'pending';
