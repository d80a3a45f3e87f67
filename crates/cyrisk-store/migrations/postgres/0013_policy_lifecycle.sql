-- The policy lifecycle: the rating at inception frozen with the policy; a cancellation's
-- effective date, reason and pro-rata return premium; mid-term endorsements (a changed limit
-- or deductible, re-priced pro rata). Never edit once released: add a migration.
ALTER TABLE policies ADD COLUMN inception_rating_id TEXT;
ALTER TABLE policies ADD COLUMN inception_score BIGINT;
ALTER TABLE policies ADD COLUMN inception_grade TEXT;
ALTER TABLE policies ADD COLUMN written_premium DOUBLE PRECISION;
ALTER TABLE policies ADD COLUMN cancelled_on TEXT;
ALTER TABLE policies ADD COLUMN cancel_reason TEXT;
ALTER TABLE policies ADD COLUMN return_premium DOUBLE PRECISION;
CREATE TABLE endorsements (
    id TEXT PRIMARY KEY,
    policy_id TEXT NOT NULL REFERENCES policies(id),
    effective_on TEXT NOT NULL,
    previous_deductible DOUBLE PRECISION NOT NULL,
    previous_limit DOUBLE PRECISION NOT NULL,
    previous_premium DOUBLE PRECISION NOT NULL,
    deductible DOUBLE PRECISION NOT NULL,
    limit_amount DOUBLE PRECISION NOT NULL,
    annual_premium DOUBLE PRECISION NOT NULL,
    premium_change DOUBLE PRECISION NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT
);
CREATE INDEX endorsements_by_policy ON endorsements (policy_id, created_at);
