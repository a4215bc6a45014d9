-- One B-tree keyed by delivery on the access path instead of three.
--
-- Deliveries are scanned in no particular order, so every B-tree keyed by
-- delivery takes each claim's write at a random page: a page of its own in
-- the WAL for every claim, and again at the checkpoint. Three such trees
-- were written per grant (live_grants, grants_by_delivery and
-- access_requests_by_delivery); now only the last one is.
-- - Every grant is stored with the access request that won it, in the same
--   transaction, and the request names it (grant_id). A delivery's grants
--   are therefore found through its requests, and grants_by_delivery goes.
-- - "At most one live grant per delivery" is checked in the claim's write
--   transaction by reading the delivery's granted requests: SQLite lets one
--   writer at a time in (BEGIN IMMEDIATE, across processes too);
--   PostgreSQL's claim first locks the delivery's row (FOR UPDATE), so
--   concurrent claims for one delivery take turns and the later one sees the
--   earlier one's grant. live_grants, which mirrored the live grant, goes.
-- - The by-delivery index also carries grant_id, so the check and the
--   delivery's grants skip its refused requests within the index.
DROP TABLE live_grants;
DROP INDEX grants_by_delivery;
DROP INDEX access_requests_by_delivery;
CREATE INDEX access_requests_by_delivery ON access_requests (delivery_id, grant_id);
