-- Take the lock, renew it (same holder), or take over a lease that expired; returns the
-- holder after the statement and the holder it replaced (if it took over a dead one).
WITH previous AS (
    SELECT holder FROM crm_sync.locks WHERE name = %(name)s
), taken AS (
    INSERT INTO crm_sync.locks (name, holder, heartbeat_at, lease_seconds)
    VALUES (%(name)s, %(holder)s, now(), %(lease)s)
    ON CONFLICT (name) DO UPDATE
       SET holder = EXCLUDED.holder, heartbeat_at = now(), lease_seconds = EXCLUDED.lease_seconds,
           acquired_at = CASE WHEN crm_sync.locks.holder = EXCLUDED.holder THEN crm_sync.locks.acquired_at
                              ELSE now() END
     WHERE crm_sync.locks.holder = EXCLUDED.holder
        OR crm_sync.locks.heartbeat_at < now() - make_interval(secs => crm_sync.locks.lease_seconds)
    RETURNING holder
)
SELECT (SELECT holder FROM taken), (SELECT holder FROM previous)
