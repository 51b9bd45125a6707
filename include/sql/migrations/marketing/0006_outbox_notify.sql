-- Near-real-time write-back: tell listeners that crm_outbox has new marketing changes.
--
-- One NOTIFY per statement that adds or renews pending changes (a new row, or change_seq
-- moving on). PostgreSQL delivers it at commit and folds identical notifications of one
-- transaction into one, so a bulk edit of 100,000 rows is one notification. Rebasing by
-- inbound loads (which sets only `base`) and clearing by the write-back (DELETE) do not
-- notify. The Airflow triggerer listens on the channel (crm_sync.outbox_trigger) and starts
-- crm_writeback once the burst is over.

CREATE FUNCTION crm_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('crm_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER crm_outbox_notify
    AFTER INSERT OR UPDATE OF change_seq ON crm_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION crm_outbox_notify();
