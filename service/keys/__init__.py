"""API keys: created, listed, read and revoked by admins, and by partners for their own organisation."""
