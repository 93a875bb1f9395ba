-- pgrotate state schema, version 1.
-- Installed by "pgrotate init" (which runs each script newer than the
-- installed version in one transaction); "pgrotate init --print-sql"
-- prints it. Contains no secret: only role names, phases, times and the
-- SHA-256 fingerprint of the published credential.

-- Owned by the admin that runs init: pgrotate refuses a schema that anyone
-- else controls (SPEC section 5).
CREATE SCHEMA pgrotate AUTHORIZATION CURRENT_USER;
COMMENT ON SCHEMA pgrotate IS 'pgrotate: credential rotation state and history';

CREATE TABLE pgrotate.schema_version (
	version integer NOT NULL,
	installed_at timestamptz NOT NULL DEFAULT now()
);

-- One row per target. During phase "draining", standby_role is the old
-- role: still able to log in until its sessions have drained.
CREATE TABLE pgrotate.state (
	target text PRIMARY KEY,
	group_role name NOT NULL,
	active_role name NOT NULL,
	standby_role name NOT NULL,
	phase text NOT NULL DEFAULT 'idle'
		CHECK (phase IN ('idle', 'provisioned', 'verified', 'draining')),
	phase_since timestamptz NOT NULL DEFAULT now(),
	generation bigint NOT NULL DEFAULT 0,
	pending_role name,
	pending_generation bigint,
	rotated_at timestamptz,
	publish_started_at timestamptz,
	fingerprint text,
	pending_fingerprint text,
	lock_host text,
	lock_pid integer,
	lock_since timestamptz,
	last_error text,
	CHECK (active_role <> standby_role)
);

-- Append-only: the trigger below refuses UPDATE and DELETE.
CREATE TABLE pgrotate.history (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	target text NOT NULL,
	event text NOT NULL,
	from_role name,
	to_role name,
	generation bigint,
	actor text NOT NULL,
	db_user name NOT NULL DEFAULT session_user,
	host text,
	pid integer,
	reason text,
	detail text
);
CREATE INDEX history_target_at ON pgrotate.history (target, id);

CREATE FUNCTION pgrotate.history_append_only() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog AS
$$
BEGIN
	RAISE EXCEPTION 'pgrotate.history is append-only';
END;
$$;
CREATE TRIGGER history_append_only
	BEFORE UPDATE OR DELETE ON pgrotate.history
	FOR EACH ROW EXECUTE FUNCTION pgrotate.history_append_only();
CREATE TRIGGER history_no_truncate
	BEFORE TRUNCATE ON pgrotate.history
	FOR EACH STATEMENT EXECUTE FUNCTION pgrotate.history_append_only();

-- What applications may ask: which role is active for a target.
CREATE FUNCTION pgrotate.active_role(target text) RETURNS name
	LANGUAGE sql STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp AS
$$
	SELECT s.active_role FROM pgrotate.state s WHERE s.target = $1
$$;
REVOKE ALL ON FUNCTION pgrotate.active_role(text) FROM PUBLIC;

INSERT INTO pgrotate.schema_version (version) VALUES (1);
