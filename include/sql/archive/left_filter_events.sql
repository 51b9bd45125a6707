-- The record events of rows archived because their record left the mapping's filter.
-- Parameters: run_id, object, ids (the Ids archived), reason.
INSERT INTO crm_sync.record_events (run_id, object, sf_id, system_modstamp, outcome, reason)
SELECT %(run_id)s, %(object)s, i.sf_id, NULL, 'archived', %(reason)s
  FROM unnest(%(ids)s::text[]) AS i(sf_id)
