-- Rotating a key: the new one replaces it, and the old one keeps working until expires_at (a grace
-- period for the clinic's integrations to switch), then stops like a revoked one.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
ALTER TABLE api_keys ADD COLUMN replaced_by uuid REFERENCES api_keys (id);
