//! Storage: one trait, SQLite and PostgreSQL implementations; the only crate with SQL
