-- Pre-policy underwriting: each assessed application, kept with the decision of the rules and,
-- for a referral, the underwriter's; and each insurer's own rule set. Never edit once released:
-- add a migration.
CREATE TABLE applications (
    id TEXT PRIMARY KEY,
    insurer_key_id TEXT NOT NULL,
    applicant TEXT NOT NULL,
    created_at TEXT NOT NULL,
    decision TEXT NOT NULL CHECK (decision IN ('accept', 'refer', 'decline')),
    status TEXT NOT NULL CHECK (status IN ('accepted', 'referred', 'declined')),
    assessment TEXT NOT NULL,
    decided_by TEXT,
    decided_at TEXT,
    note TEXT
);
CREATE INDEX applications_by_insurer ON applications (insurer_key_id, status, created_at);
CREATE TABLE underwriting_rules (
    insurer_key_id TEXT PRIMARY KEY,
    rules TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT
);
