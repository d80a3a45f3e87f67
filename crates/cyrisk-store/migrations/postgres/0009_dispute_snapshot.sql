-- A dispute is decided on the finding as it was filed: its state and a hash of its data are
-- kept, and at most one dispute per finding is pending. Never edit once released: add a
-- migration.
ALTER TABLE disputes ADD COLUMN finding_state TEXT;
ALTER TABLE disputes ADD COLUMN finding_hash TEXT;
CREATE UNIQUE INDEX disputes_one_pending ON disputes (org_id, finding_id) WHERE status = 'pending';
