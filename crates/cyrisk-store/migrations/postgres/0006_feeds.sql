-- Threat-intelligence snapshots (KEV catalogue, EPSS scores), kept as loaded so every rating
-- can say which it used and be reproduced. Never edit once released: add a migration.
CREATE TABLE feed_snapshots (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    loaded_at TEXT NOT NULL,
    entries INTEGER NOT NULL,
    data BYTEA NOT NULL,
    UNIQUE (kind, content_hash)
);
CREATE INDEX feed_snapshots_latest ON feed_snapshots (kind, loaded_at);
ALTER TABLE ratings ADD COLUMN feeds TEXT;
