"""Audit's SQL that only PostgreSQL has: the monthly partitions of the events table
(``audit.sql.postgresql``). SQLite keeps one table, so there is nothing to say there."""
