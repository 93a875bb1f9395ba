-- pgrotate state schema, version 2: a target's lock only pgrotate's admin
-- can hold, and when and where the last run failed.
--
-- The lock of a target is its state row's claim: the backend (pid and
-- backend_start, as pg_stat_activity shows them) of the admin session that
-- holds it. Only roles that may write pgrotate.state can claim it, and a
-- claim whose backend has ended is free at once (a crashed run leaves no
-- lock behind). An advisory lock, which any role can take, is not used.

ALTER TABLE pgrotate.state
	ADD COLUMN lock_backend_pid integer,
	ADD COLUMN lock_backend_start timestamptz;

-- A failed, refused, rolled-back or interrupted run records when and in
-- which step it failed, next to its message (last_error), until a later
-- cycle publishes or completes; "pgrotate status" reports it CRITICAL.
ALTER TABLE pgrotate.state
	ADD COLUMN last_error_at timestamptz,
	ADD COLUMN last_error_step text;

INSERT INTO pgrotate.schema_version (version) VALUES (2);
