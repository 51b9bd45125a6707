-- A record this run processed at the version that was blocked, or a later one, is no longer
-- blocked by what blocked it then (the run decided it anew; remember_blocked.sql re-adds it
-- when it is still blocked).
DELETE FROM crm_sync.blocked_records b
 USING crm_staging.records r
 WHERE r.run_id = %(run_id)s AND b.object = %(object)s AND b.sf_id = r.sf_id
   AND r.system_modstamp >= b.system_modstamp
