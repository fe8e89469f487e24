-- Listing one person's sessions newest first: without it, a page for someone who ran one
-- session in a thousand walks the whole start-time index to find them.
CREATE INDEX sessions_by_identity ON sessions (identity_id, start_us);
