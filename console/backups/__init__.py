"""Backups that prove they restore: full, incremental and selective, optionally encrypted.

Why a small module of ours and not django-dbbackup (5.4). dbbackup wraps the database's own
tools (``pg_dump``/``psql``, a copy of the SQLite file) and a storage; it would give us full
backups and encryption (GPG) and nothing else the contract asks for:

- incremental backups (rows changed since a base, restored as base + chain) and selective
  ones (chosen apps) do not exist there: ``pg_dump`` works on whole tables or databases;
- its dumps are vendor-specific (a PostgreSQL dump does not restore into SQLite, which the
  tests and small installs use), and ``pg_dump`` must match the server's major version;
- its cleanup keeps the N newest files, not "older than retention_days";
- encryption is GPG with keys in a keyring, where Roster already keeps Fernet/MultiFernet
  keys in the environment (``config/keys.py``, ``slots/crypto.py``);
- the proof (restore into a scratch database, count rows, verify the audit chain) and the
  self-describing header (version, kind, base, key id, SHA-256) would be ours anyway.

What is ours is small: ``engine`` reads every table inside one snapshot (one REPEATABLE READ
READ ONLY transaction on PostgreSQL, one read transaction on SQLite) through Django's
serializers and writes it back in one transaction; ``fileformat`` is the file; ``services``
run, prove, delete, expire and audit. Restoring needs the target migrated to the same Roster
version (the file holds rows, not schema). Details and operations: docs/operations.md.
"""
