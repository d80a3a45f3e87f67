-- Feed snapshots are dated by their own content (the KEV catalogue's release, the EPSS score
-- date), so the newest is current whatever the load order; findings keep all their CVEs
-- (space-separated), so a feed change re-rates every organisation it touches. Never edit
-- once released: add a migration.
ALTER TABLE feed_snapshots ADD COLUMN published TEXT;
UPDATE feed_snapshots SET published = replace(version, '.', '-') WHERE kind = 'kev';
UPDATE feed_snapshots SET published = substr(version, 1, 10) WHERE kind = 'epss';
CREATE INDEX feed_snapshots_current ON feed_snapshots (kind, published, loaded_at);
ALTER TABLE findings ADD COLUMN cves TEXT;
UPDATE findings SET cves = cve;
