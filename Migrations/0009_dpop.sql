-- DPoP (RFC 9449): proofs seen (per key thumbprint and jti, until their iat window has passed),
-- clients that must bind their tokens, and the key a public client's refresh family is bound to.
CREATE TABLE dpop_proofs (
    jkt         text        NOT NULL,
    jti         text        NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (jkt, jti),
    CONSTRAINT dpop_proofs_lengths CHECK (octet_length(jkt) <= 64 AND octet_length(jti) <= 256)
);
CREATE INDEX dpop_proofs_expires_at_idx ON dpop_proofs (expires_at);

ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;
ALTER TABLE sessions ADD COLUMN dpop_jkt text;
