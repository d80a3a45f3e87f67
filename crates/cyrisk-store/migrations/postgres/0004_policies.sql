-- Policies: an insurer's bound layer on an organisation for a period. A policy links the
-- insurer's key to the organisation (org_links, reason 'policy'). Never edit once released:
-- add a new migration.
CREATE TABLE policies (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    insurer_key_id TEXT NOT NULL REFERENCES api_keys(id),
    quote_id TEXT REFERENCES quotes(id),
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    currency TEXT NOT NULL,
    deductible DOUBLE PRECISION NOT NULL,
    limit_amount DOUBLE PRECISION NOT NULL,
    premium DOUBLE PRECISION NOT NULL,
    created_at TEXT NOT NULL,
    cancelled_at TEXT
);
CREATE INDEX policies_by_org ON policies (org_id, starts_on);
CREATE INDEX policies_by_insurer ON policies (insurer_key_id, starts_on);
