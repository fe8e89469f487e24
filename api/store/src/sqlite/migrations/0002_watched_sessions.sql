-- Sessions that mirrord-usage started from what the operator shows as running, with when they
-- were last seen: when one is no longer shown, it ended then. Kept in the database so that a
-- restart, or an operator that cannot be reached for a while, loses nothing.
CREATE TABLE watched_sessions (
    session_id   TEXT PRIMARY KEY,
    last_seen_us INTEGER NOT NULL
) WITHOUT ROWID;
