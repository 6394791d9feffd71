-- Encrypted tokens (JWE) per client: its public keys (a JWK Set) and the algorithms of its ID
-- tokens' and access tokens' encryption, each pair set together or not at all.
ALTER TABLE clients ADD COLUMN jwks jsonb;
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_alg text;
ALTER TABLE clients ADD COLUMN id_token_encrypted_response_enc text;
ALTER TABLE clients ADD COLUMN access_token_encrypted_response_alg text;
ALTER TABLE clients ADD COLUMN access_token_encrypted_response_enc text;
ALTER TABLE clients ADD CONSTRAINT clients_id_token_encryption_pair
    CHECK ((id_token_encrypted_response_alg IS NULL) = (id_token_encrypted_response_enc IS NULL));
ALTER TABLE clients ADD CONSTRAINT clients_access_token_encryption_pair
    CHECK ((access_token_encrypted_response_alg IS NULL) = (access_token_encrypted_response_enc IS NULL));
ALTER TABLE clients ADD CONSTRAINT clients_encryption_needs_keys
    CHECK (jwks IS NOT NULL OR (id_token_encrypted_response_alg IS NULL AND access_token_encrypted_response_alg IS NULL));
