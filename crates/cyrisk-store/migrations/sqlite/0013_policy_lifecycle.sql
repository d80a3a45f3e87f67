-- The policy lifecycle: the rating at inception frozen with the policy; a cancellation's
-- effective date, reason and pro-rata return premium; mid-term endorsements (a changed limit
-- or deductible, re-priced pro rata). Never edit once released: add a migration.
ALTER TABLE policies ADD COLUMN inception_rating_id TEXT;
ALTER TABLE policies ADD COLUMN inception_score INTEGER;
ALTER TABLE policies ADD COLUMN inception_grade TEXT;
ALTER TABLE policies ADD COLUMN written_premium REAL;
ALTER TABLE policies ADD COLUMN cancelled_on TEXT;
ALTER TABLE policies ADD COLUMN cancel_reason TEXT;
ALTER TABLE policies ADD COLUMN return_premium REAL;
CREATE TABLE endorsements (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    effective_on TEXT NOT NULL,
    previous_deductible REAL NOT NULL,
    previous_limit REAL NOT NULL,
    previous_premium REAL NOT NULL,
    deductible REAL NOT NULL,
    limit_amount REAL NOT NULL,
    annual_premium REAL NOT NULL,
    premium_change REAL NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX endorsements_by_policy ON endorsements (policy_id, created_at);
