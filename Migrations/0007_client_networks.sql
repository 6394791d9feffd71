-- Gateway features, first part: the networks a client may use the token, introspection and
-- revocation endpoints from (CIDR text, checked strictly at registration; empty = anywhere).
ALTER TABLE clients ADD COLUMN allowed_networks text[] NOT NULL DEFAULT '{}';
