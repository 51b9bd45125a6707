-- Changes the write-back settled. A row changed again meanwhile has a newer change_seq and
-- stays queued. Parameters: table, row_ids, seqs (arrays of equal length).
DELETE FROM crm_outbox o
 USING unnest(%(row_ids)s::bigint[], %(seqs)s::bigint[]) AS done(row_id, seq)
 WHERE o.tbl = %(table)s AND o.row_id = done.row_id AND o.change_seq = done.seq
