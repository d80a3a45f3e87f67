-- Durable background jobs (a transactional outbox: a job is inserted in the same transaction
-- as the write that causes it) and the job that produced a rating. Never edit once released:
-- add a migration.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    org_id TEXT,
    payload TEXT NOT NULL,
    dedupe_key TEXT,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'dead')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at TEXT NOT NULL,
    lease_token TEXT,
    lease_until TEXT,
    worker TEXT,
    last_error TEXT,
    result TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    finished_at TEXT
);
-- At most one queued job per dedupe key: enqueueing the same work again joins it.
CREATE UNIQUE INDEX jobs_dedupe_queued ON jobs (dedupe_key) WHERE state = 'queued';
-- What claims and queue gauges read: the jobs not yet finished (a small part of the table).
CREATE INDEX jobs_active ON jobs (run_at, id) WHERE state IN ('queued', 'running');
CREATE INDEX jobs_by_state ON jobs (state, updated_at);
CREATE INDEX jobs_by_org ON jobs (org_id, created_at);
-- The live rating's hot path asks whether a re-rating of the organisation is pending.
CREATE INDEX jobs_pending_by_org ON jobs (org_id) WHERE state IN ('queued', 'running');
ALTER TABLE ratings ADD COLUMN job_id TEXT;
-- A job's effect happens once: a second rating from the same job cannot be stored.
CREATE UNIQUE INDEX ratings_by_job ON ratings (job_id) WHERE job_id IS NOT NULL;
