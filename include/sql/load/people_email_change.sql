-- A record whose email changed: its person moves to the new email when that is free...
WITH moved AS (
    UPDATE people p
       SET email = i.email, updated_at = now()
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.email IS NOT NULL
       AND p.{idcol} = i.sf_id AND p.email <> i.email
       AND NOT EXISTS (SELECT 1 FROM people q WHERE q.email = i.email)
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM moved WHERE incoming.sf_id = moved.sf_id;

-- ...or, when another person has that email already, leaves its old person (archived if
-- nothing else links it) and joins that one in the upsert that follows.
WITH detached AS (
    UPDATE people p
       SET {idcol} = NULL,
           {vercol} = NULL,
           archived_at = CASE WHEN p.{othercol} IS NULL THEN COALESCE(p.archived_at, i.system_modstamp)
                              ELSE p.archived_at END,
           archive_reason = CASE WHEN p.{othercol} IS NULL
                                 THEN COALESCE(p.archive_reason, {object} || ' moved to another email')
                                 ELSE p.archive_reason END,
           updated_at = now()
      FROM incoming i
     WHERE NOT i.is_deleted AND i.skip_reason IS NULL AND i.email IS NOT NULL
       AND p.{idcol} = i.sf_id AND p.email <> i.email
 RETURNING i.sf_id
)
UPDATE incoming SET outcome = 'updated' FROM detached WHERE incoming.sf_id = detached.sf_id;
