-- Rating integrity: who recorded each input, what a finding counts as in the rating, who
-- changed a finding's state and why, and the rated party's disputes. Never edit once
-- released: add a migration.
ALTER TABLE findings ADD COLUMN counts_as TEXT;
ALTER TABLE findings ADD COLUMN recorded_by TEXT;
ALTER TABLE assets ADD COLUMN recorded_by TEXT;
ALTER TABLE controls ADD COLUMN recorded_by TEXT;
ALTER TABLE incidents ADD COLUMN recorded_by TEXT;
ALTER TABLE finding_history ADD COLUMN counts_as TEXT;
ALTER TABLE finding_history ADD COLUMN role TEXT;
ALTER TABLE finding_history ADD COLUMN reason TEXT;
ALTER TABLE finding_history ADD COLUMN evidence TEXT;

CREATE TABLE disputes (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    finding_id TEXT NOT NULL,
    proposed_state TEXT NOT NULL,
    reason TEXT NOT NULL,
    evidence TEXT,
    filed_by TEXT NOT NULL,
    filed_at TEXT NOT NULL,
    status TEXT NOT NULL,
    decided_by TEXT,
    decided_role TEXT,
    decided_at TEXT,
    decision_note TEXT
);
CREATE INDEX disputes_by_org ON disputes (org_id, status, filed_at);
CREATE INDEX disputes_by_finding ON disputes (org_id, finding_id, status);
