-- SQLite's 0012 adds the configuration version its access path caches by;
-- PostgreSQL reads the configuration afresh for every request, and needs
-- nothing. This migration keeps the two backends' numbering in step.
SELECT 1;
