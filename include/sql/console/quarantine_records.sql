-- Open quarantined records of one object and reason, with the offending values: the payload
-- fields behind the columns the reasons name (the mapping's fields, as bound arrays).
-- Binds: %(object)s, %(reason)s, %(limit)s, %(sources)s and %(targets)s (the object's mapped fields).
SELECT q.quarantine_id, q.run_id, q.sf_id, q.reasons, q.quarantined_at,
       (SELECT jsonb_object_agg(f.source, q.payload -> f.source)
          FROM unnest(%(sources)s::text[], %(targets)s::text[]) AS f(source, target)
         WHERE f.target IN (SELECT split_part(r, ':', 1) FROM unnest(q.reasons) AS r)) AS offending,
       coalesce(q.payload ->> 'Name', nullif(concat_ws(' ', q.payload ->> 'FirstName', q.payload ->> 'LastName'), ''),
                q.payload ->> 'Email') AS label
  FROM crm_quarantine.records q
 WHERE q.status = 'open' AND q.object = %(object)s AND %(reason)s = ANY (q.reasons)
 ORDER BY q.quarantined_at DESC, q.quarantine_id
 LIMIT %(limit)s;
