-- Claims on policies: the date of loss and of notice, the peril, the status, and every
-- reserve change and payment with its date (a loss run folds them into paid, outstanding and
-- incurred). Never edit once released: add a migration.
CREATE TABLE claims (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    org_id TEXT NOT NULL REFERENCES organizations(id),
    insurer_key_id TEXT NOT NULL,
    loss_on TEXT NOT NULL,
    notified_on TEXT NOT NULL,
    peril TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed', 'denied')),
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    closed_on TEXT
);
CREATE INDEX claims_by_policy ON claims (policy_id, loss_on);
CREATE INDEX claims_by_insurer ON claims (insurer_key_id, loss_on);
CREATE INDEX claims_by_org ON claims (org_id, notified_on);
CREATE TABLE claim_movements (
    id TEXT PRIMARY KEY,
    claim_id TEXT NOT NULL REFERENCES claims(id),
    kind TEXT NOT NULL CHECK (kind IN ('reserve', 'payment')),
    amount REAL NOT NULL,
    on_date TEXT NOT NULL,
    note TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX claim_movements_by_claim ON claim_movements (claim_id, on_date, created_at);
