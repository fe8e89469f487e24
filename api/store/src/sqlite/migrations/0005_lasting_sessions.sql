-- Sessions still running or longer than a day. Overlap queries read sessions that started at most
-- a day before a range from the start-time index and the few others from this one, so one very
-- long session costs the days it covers, not every later batch a scan as long as it.
CREATE INDEX IF NOT EXISTS sessions_lasting ON sessions (start_us) WHERE (end_us IS NULL OR end_us - start_us > 86400000000);
DELETE FROM meta WHERE key = 'max_duration_us';
