-- Which organisations an insurer key may see: linked when it loads one (and, later, by
-- policies and quotes). Never edit once released: add a new migration.
CREATE TABLE org_links (
    key_id TEXT NOT NULL REFERENCES api_keys(id),
    org_id TEXT NOT NULL REFERENCES organizations(id),
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (key_id, org_id)
);
