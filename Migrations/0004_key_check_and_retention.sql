-- A check value of the master key (an HMAC under a key derived from it, never the key itself):
-- a node or command started with another master key refuses to run instead of serving a key
-- set it cannot open and registering clients that can never authenticate.
CREATE TABLE master_key_check (
    singleton   boolean     PRIMARY KEY DEFAULT true,
    check_value bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT master_key_check_singleton CHECK (singleton),
    CONSTRAINT master_key_check_length CHECK (octet_length(check_value) = 32)
);

-- Audit events stay append-only for the application, except for the retention clean-up, which
-- marks its own transaction (set_config('signet.audit_retention', 'on', true)) and removes only
-- events older than the configured retention.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('signet.audit_retention', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only';
END
$fn$;
