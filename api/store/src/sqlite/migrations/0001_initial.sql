-- Sessions and the dimensions they reference. Repeated values are stored once; id 0 means
-- "absent" in every reference, so uniqueness constraints see absent values as equal.

CREATE TABLE strings (
    id    INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);

CREATE TABLE identities (
    id                  INTEGER PRIMARY KEY,
    machine_id          INTEGER NOT NULL,
    kubernetes_username INTEGER NOT NULL,
    client_username     INTEGER NOT NULL,
    client_hostname     INTEGER NOT NULL,
    -- span of the identity's user sessions (CI sessions excluded), NULL until it has one
    first_user_start_us INTEGER,
    last_user_start_us  INTEGER,
    UNIQUE (machine_id, kubernetes_username, client_username, client_hostname)
);

CREATE TABLE targets (
    id        INTEGER PRIMARY KEY,
    kind      INTEGER NOT NULL,
    name      INTEGER NOT NULL,
    container INTEGER NOT NULL,
    UNIQUE (kind, name, container)
);

CREATE TABLE ci_contexts (
    id           INTEGER PRIMARY KEY,
    provider     INTEGER NOT NULL,
    pipeline     INTEGER NOT NULL,
    environment  INTEGER NOT NULL,
    triggered_by INTEGER NOT NULL,
    UNIQUE (provider, pipeline, environment, triggered_by)
);

-- One row per session id. A row with only end_us is an end whose start has not arrived yet;
-- one with only start_us is running.
CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    session_id          TEXT NOT NULL UNIQUE,
    start_us            INTEGER,
    end_us              INTEGER,
    identity_id         INTEGER NOT NULL DEFAULT 0,
    target_id           INTEGER NOT NULL DEFAULT 0,
    namespace_id        INTEGER NOT NULL DEFAULT 0,
    ci_id               INTEGER,
    cli_version_id      INTEGER NOT NULL DEFAULT 0,
    operator_version_id INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX sessions_by_start ON sessions (start_us);
CREATE INDEX sessions_running ON sessions (start_us) WHERE end_us IS NULL;

-- Completed sessions summed per UTC day (span 0) and per UTC month (span 1) of their start, so
-- that a report reads a few packed values per day or month instead of every session. The BLOB
-- formats are described in store/blocks.rs.
CREATE TABLE usage_blocks (
    id         INTEGER PRIMARY KEY,
    span       INTEGER NOT NULL,
    period     INTEGER NOT NULL,
    ci         INTEGER NOT NULL,
    identities BLOB NOT NULL,   -- per identity: sessions, total duration, latest start
    UNIQUE (span, period, ci)
);

-- The same for user sessions per namespace and target, with who ran them.
CREATE TABLE target_blocks (
    id           INTEGER PRIMARY KEY,
    span         INTEGER NOT NULL,
    period       INTEGER NOT NULL,
    namespace_id INTEGER NOT NULL,
    target_id    INTEGER NOT NULL,
    sessions     INTEGER NOT NULL,
    total_us     INTEGER NOT NULL,
    identities   BLOB NOT NULL,   -- identity ids
    UNIQUE (span, period, namespace_id, target_id)
);

-- Peak overlap of completed sessions within each UTC day.
CREATE TABLE concurrency_days (
    day  INTEGER NOT NULL,
    ci   INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    PRIMARY KEY (day, ci)
) WITHOUT ROWID;

-- Completed sessions ever, per kind.
CREATE TABLE totals (
    ci       INTEGER PRIMARY KEY,
    sessions INTEGER NOT NULL,
    total_us INTEGER NOT NULL
);

-- Single values: last_event_us, operator_version(_us), max_duration_us.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB
) WITHOUT ROWID;
