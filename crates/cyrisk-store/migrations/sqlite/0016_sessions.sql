-- Sessions of the live rating page (/app): an API key exchanged for a cookie. Only the token's
-- SHA-256 is kept; the CSRF token is the one the session's forms carry.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    key_id TEXT NOT NULL REFERENCES api_keys(id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);

-- The score's trend reads the last rating of each rating date.
CREATE INDEX ratings_org_as_of ON ratings (org_id, as_of);
