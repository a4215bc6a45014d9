-- A resident who moved out keeps their row (the unit's history names them)
-- and says when they left; their tokens and sessions are deleted then.
ALTER TABLE residents ADD COLUMN moved_out_at BIGINT;
-- A carrier finds the properties that enabled it.
CREATE INDEX enablements_by_carrier ON enablements (carrier_id);
