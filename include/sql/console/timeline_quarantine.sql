-- Quarantine entries of one record (open and settled). Binds: %(sf_id)s.
SELECT quarantine_id, run_id, object, reasons, status, quarantined_at, resolved_at,
       resolution_note, resolved_by
  FROM crm_quarantine.records
 WHERE sf_id = %(sf_id)s
 ORDER BY quarantine_id DESC;
