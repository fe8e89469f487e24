-- Sessions past the retention (`--retention`): what the reports still need of them, without
-- what only the session log shows (session id, versions). Reports over any range read these
-- beside `sessions`, so they stay exactly what they were; the session log no longer lists them.
CREATE TABLE archived_sessions (
    id           INTEGER PRIMARY KEY,
    start_us     INTEGER NOT NULL,
    end_us       INTEGER NOT NULL,
    identity_id  INTEGER NOT NULL,
    target_id    INTEGER NOT NULL,
    namespace_id INTEGER NOT NULL,
    ci           INTEGER NOT NULL
);
CREATE INDEX archived_by_start ON archived_sessions (start_us);
-- As `sessions_lasting`: the few archived sessions longer than a day.
CREATE INDEX archived_lasting ON archived_sessions (start_us) WHERE end_us - start_us > 86400000000;
