-- Remediation tickets: raised from a finding, a failed control or an alert; worked by the
-- insured; closed only when verified — by a re-scan that no longer sees the finding (or a
-- control result that now passes), or by an assessor's or insurer's attestation. Every
-- change is an event (status, comment, evidence, verification). Never edit once released.
CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    source_kind TEXT NOT NULL CHECK (source_kind IN ('finding', 'control', 'alert')),
    source_id TEXT NOT NULL,
    title TEXT NOT NULL,
    assignee TEXT,
    due_on TEXT NOT NULL,
    -- The due date by the rating model's SLA, set when opened and never edited: the
    -- remediation record measures against it, not against the working due date.
    sla_due_on TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'resolved', 'closed')),
    created_by TEXT NOT NULL,
    -- Set when an insurer opened it: then only that insurer (besides the insured and admins)
    -- sees it; other insurers of the organisation do not.
    insurer_key_id TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acknowledged_at TEXT,
    resolved_at TEXT,
    closed_at TEXT,
    verified_by TEXT CHECK (verified_by IN ('rescan', 'attestation')),
    verification_note TEXT
);
-- One ticket at a time per source: a second request for the same finding, control or alert
-- while one is not closed is the same work.
CREATE UNIQUE INDEX tickets_one_open ON tickets (org_id, source_kind, source_id) WHERE status <> 'closed';
CREATE INDEX tickets_by_org ON tickets (org_id, status, created_at);
CREATE TABLE ticket_events (
    id TEXT PRIMARY KEY,
    ticket_id TEXT NOT NULL REFERENCES tickets(id),
    org_id TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'status', 'comment', 'evidence', 'assigned', 'due', 'verified')),
    from_status TEXT,
    to_status TEXT,
    body TEXT
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (ticket_id, at);
CREATE INDEX ticket_events_by_org ON ticket_events (org_id, at);
