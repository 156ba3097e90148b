-- Entries of every namespace (KeyValueStore names, persistence store ids).
-- Namespaces and keys are stored as their UTF-8 bytes (bytea) and compared
-- byte for byte: every distinct well-formed string is a distinct key, NUL
-- included (text cannot hold NUL), whatever the database's collation, and a
-- prefix query is a range scan of the primary key.
-- kind: 0 = the value was written as a string (stored as its UTF-8 bytes),
--       1 = the value was written as bytes.
-- expires_at: epoch milliseconds, NULL for entries that never expire.
-- Nothing here depends on physical row ids (ctid), so PostgreSQL-wire
-- distributed engines accept the schema as it is.
CREATE TABLE {{table}} (
  namespace bytea NOT NULL,
  key bytea NOT NULL,
  value bytea NOT NULL,
  kind smallint NOT NULL CHECK (kind IN (0, 1)),
  expires_at bigint,
  CONSTRAINT {{table:pkey}} PRIMARY KEY (namespace, key)
);

-- Serves expiry sweeps in expiry order; partial, so entries without expiry cost nothing.
CREATE INDEX {{table:expires_at}} ON {{table}} (expires_at) WHERE expires_at IS NOT NULL;
