-- Open quarantined records grouped by object and reason. Binds: none.
SELECT q.object, reason, count(*) AS records, max(q.quarantined_at) AS latest
  FROM crm_quarantine.records q, unnest(q.reasons) AS reason
 WHERE q.status = 'open'
 GROUP BY q.object, reason
 ORDER BY q.object, count(*) DESC, reason;
