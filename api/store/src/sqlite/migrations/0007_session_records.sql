-- What the operator's per-session records add: whether a stored start or end is an estimate
-- (a session first seen already running, or last seen running), how a session closed, and the
-- parent of a multi-cluster session. References are string ids; 0 means absent.
ALTER TABLE sessions ADD COLUMN start_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN end_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN close_reason_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN multi_cluster_parent_id INTEGER NOT NULL DEFAULT 0;
