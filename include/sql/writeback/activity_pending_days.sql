-- One chunk of person-days with marketing activity not yet written to Salesforce
-- (daily_summary mode): every activity of each such day, pending or not (the summary covers
-- the whole day), with the person's Salesforce links. Keyset on (person_id, day).
WITH days AS (
    SELECT DISTINCT person_id, (occurred_at AT TIME ZONE %(tz)s)::date AS day
      FROM marketing_activities
     WHERE crm_written_at IS NULL
       AND (person_id, (occurred_at AT TIME ZONE %(tz)s)::date) > (%(after_person)s, %(after_day)s::date)
     ORDER BY person_id, day
     LIMIT %(size)s
)
SELECT d.person_id, d.day,
       p.id IS NOT NULL AS person_exists, p.archived_at IS NOT NULL AS archived,
       p.contact_sf_id, p.lead_sf_id,
       array_agg(a.id ORDER BY a.occurred_at, a.id) FILTER (WHERE a.crm_written_at IS NULL) AS pending_ids,
       array_agg(a.kind ORDER BY a.occurred_at, a.id) AS kinds,
       array_agg(a.occurred_at ORDER BY a.occurred_at, a.id) AS times,
       array_agg(COALESCE(a.subject, '') ORDER BY a.occurred_at, a.id) AS subjects,
       array_agg(COALESCE(a.campaign, '') ORDER BY a.occurred_at, a.id) AS campaigns
  FROM days d
  JOIN marketing_activities a
    ON a.person_id = d.person_id AND (a.occurred_at AT TIME ZONE %(tz)s)::date = d.day
  LEFT JOIN people p ON p.id = d.person_id
 GROUP BY d.person_id, d.day, p.id
 ORDER BY d.person_id, d.day
