-- Salesforce merges: a row whose record was merged away into another (the loser, deleted
-- with MasterRecordId) is archived with reason 'merged' and remembers its master's Id.
ALTER TABLE people ADD COLUMN merged_into_sf_id text;
ALTER TABLE accounts ADD COLUMN merged_into_sf_id text;
