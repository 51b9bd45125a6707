-- What the sync knows of one record now. Binds: %(sf_id)s.
SELECT object, sf_id, system_modstamp, is_deleted, outcome, run_id
  FROM crm_sync.synced_records
 WHERE sf_id = %(sf_id)s;
