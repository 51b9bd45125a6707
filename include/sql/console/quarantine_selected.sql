-- Open quarantined records of one object: the chosen ones, or all with one reason.
-- Binds: %(object)s, %(ids)s (quarantine ids, or null), %(reason)s (or null).
SELECT quarantine_id, sf_id
  FROM crm_quarantine.records
 WHERE status = 'open' AND object = %(object)s
   AND (%(ids)s::bigint[] IS NULL OR quarantine_id = ANY (%(ids)s::bigint[]))
   AND (%(reason)s::text IS NULL OR %(reason)s::text = ANY (reasons))
 ORDER BY quarantine_id;
