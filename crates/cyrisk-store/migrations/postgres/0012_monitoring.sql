-- Mid-policy monitoring: each insurer's alert rules; what monitoring remembers per organisation
-- and audience (an insurer key, or 'insured' for the organisation's own view); the alerts,
-- each raised once; the webhooks that receive them, each delivery (its id is the
-- Standard Webhooks message id) and every attempt. Never edit once released: add a migration.
CREATE TABLE alert_rules (
    insurer_key_id TEXT PRIMARY KEY,
    rules TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
CREATE TABLE monitor_state (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    audience TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, audience)
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    audience TEXT NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    dedupe_key TEXT NOT NULL,
    title TEXT NOT NULL,
    detail TEXT NOT NULL,
    rating_id TEXT,
    created_at TEXT NOT NULL,
    acked_at TEXT,
    acked_by TEXT
);
CREATE UNIQUE INDEX alerts_once ON alerts (org_id, audience, dedupe_key);
CREATE INDEX alerts_by_audience ON alerts (audience, created_at);
CREATE INDEX alerts_by_org ON alerts (org_id, created_at);
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    owner_key_id TEXT NOT NULL REFERENCES api_keys(id),
    audience TEXT NOT NULL,
    org_id TEXT REFERENCES organizations(id),
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    disabled_at TEXT
);
CREATE INDEX webhooks_by_audience ON webhooks (audience, org_id);
CREATE TABLE webhook_deliveries (
    id TEXT PRIMARY KEY,
    webhook_id TEXT NOT NULL REFERENCES webhooks(id),
    alert_id TEXT NOT NULL REFERENCES alerts(id),
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    job_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE UNIQUE INDEX deliveries_once ON webhook_deliveries (webhook_id, alert_id);
CREATE INDEX deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at);
CREATE TABLE webhook_attempts (
    id TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries(id),
    attempt BIGINT NOT NULL,
    attempted_at TEXT NOT NULL,
    status_code BIGINT,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX attempts_by_delivery ON webhook_attempts (delivery_id, attempted_at);
