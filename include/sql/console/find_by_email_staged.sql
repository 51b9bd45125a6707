-- Salesforce Ids whose staged or quarantined payload carries an email. Binds: %(email)s.
SELECT DISTINCT sf_id FROM (
    SELECT sf_id FROM crm_staging.records WHERE lower(payload ->> 'Email') = lower(%(email)s)
    UNION ALL
    SELECT sf_id FROM crm_quarantine.records WHERE lower(payload ->> 'Email') = lower(%(email)s)
) found
LIMIT 20;
