-- Priced quotes, stored with the organisation (immutable, like ratings). Never edit once
-- released: add a new migration.
CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    key_id TEXT,
    created_at TEXT NOT NULL,
    rating_id TEXT NOT NULL REFERENCES ratings(id),
    quote TEXT NOT NULL
);
CREATE INDEX quotes_by_org ON quotes (org_id, created_at);
