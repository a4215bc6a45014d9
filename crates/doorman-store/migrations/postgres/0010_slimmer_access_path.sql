-- The access path's tables, with fewer indexes for each claim to write (as
-- SQLite's 0009): live_grants is looked up by delivery only, and a grant
-- belongs to one delivery, so the UNIQUE index on grant_id served no query
-- and guarded nothing; no query lists access requests by carrier alone.
ALTER TABLE live_grants DROP CONSTRAINT live_grants_grant_id_key;
DROP INDEX access_requests_by_carrier;
