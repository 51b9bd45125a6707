"""Write-back: the marketing side's changes to Salesforce (DAG `crm_writeback`).

Marketing-side change tracking (`crm_outbox`, from triggers) says what changed; `rules`
decides each field by its owner and conflict rule; `plan` turns changes into record writes;
`ingest` writes them through Bulk API 2.0 with per-record results and retries; `write`
runs it chunk by chunk within the API budget; `refresh` reads created, linked and restored
records back through the inbound path. See docs/writeback.md.
"""
