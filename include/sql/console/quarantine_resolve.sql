-- Settle open quarantined records: replayed (with the DAG run in the note) or dismissed.
-- Binds: %(status)s, %(note)s, %(user)s, %(ids)s (quarantine ids).
UPDATE crm_quarantine.records
   SET status = %(status)s, resolution_note = %(note)s, resolved_by = %(user)s, resolved_at = now()
 WHERE status = 'open' AND quarantine_id = ANY (%(ids)s::bigint[])
RETURNING quarantine_id, sf_id;
