-- Every scan or spreadsheet imported into an organisation, keyed by the file's SHA-256 so that
-- importing the same file twice changes nothing. Never edit once released: add a migration.
CREATE TABLE imports (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    content_hash TEXT NOT NULL,
    format TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    key_id TEXT,
    summary TEXT NOT NULL,
    PRIMARY KEY (org_id, content_hash)
);
