-- Locks are leases: the holder's tasks renew `heartbeat_at` while they work; a lock whose
-- heartbeat is older than its lease died with its holder and may be taken over.
ALTER TABLE crm_sync.locks ADD COLUMN heartbeat_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE crm_sync.locks ADD COLUMN lease_seconds integer NOT NULL DEFAULT 600;
