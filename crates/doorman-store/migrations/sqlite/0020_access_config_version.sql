-- PostgreSQL's 0020 adds the access configuration version SQLite has had
-- since its 0012. This migration keeps the two backends' numbering in step.
SELECT 1;
