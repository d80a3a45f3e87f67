-- cyrisk schema v1 (SQLite). Never edit once released: add a new migration.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    industry TEXT NOT NULL,
    profile TEXT NOT NULL,
    scan_date TEXT,
    inputs_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE assets (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    id TEXT NOT NULL,
    internet_facing INTEGER NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE findings (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    id TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    state TEXT NOT NULL,
    cve TEXT,
    kev INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    data TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX findings_by_state ON findings (org_id, state);

CREATE TABLE finding_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    state TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT
);
CREATE INDEX finding_history_by_finding ON finding_history (org_id, finding_id, seq);

CREATE TABLE controls (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    seq INTEGER NOT NULL,
    control TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (org_id, seq)
);

CREATE TABLE incidents (
    org_id TEXT NOT NULL REFERENCES organizations(id),
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (org_id, id)
);

CREATE TABLE ratings (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    computed_at TEXT NOT NULL,
    as_of TEXT NOT NULL,
    inputs_version INTEGER NOT NULL,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    score INTEGER NOT NULL,
    grade TEXT NOT NULL,
    rating TEXT NOT NULL
);
CREATE INDEX ratings_by_org ON ratings (org_id, computed_at);

CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    org_id TEXT REFERENCES organizations(id),
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    key_id TEXT,
    action TEXT NOT NULL,
    org_id TEXT,
    detail TEXT NOT NULL
);
