-- Which of a chunk's people are in which of the scopes' segments.
-- Parameters: ids (people ids), segments (the scopes of the table's mappings).
SELECT person_id, segment
  FROM crm_segment_members
 WHERE person_id = ANY (%(ids)s::bigint[]) AND segment = ANY (%(segments)s::text[])
