-- Entries of every namespace (KeyValueStore names, persistence store ids).
-- Namespaces and keys are stored as their UTF-8 bytes (BLOB) and compared
-- byte for byte, so every distinct well-formed string is a distinct key, and a
-- prefix query is a range scan of the primary key.
-- kind: 0 = the value was written as a string (stored as TEXT),
--       1 = the value was written as bytes (stored as BLOB).
-- value is declared BLOB, which gives the column no type affinity: a string
-- that looks like a number ("-1.5e3") is kept as that text, never converted.
-- expires_at: epoch milliseconds, NULL for entries that never expire.
CREATE TABLE {{table}} (
  namespace BLOB NOT NULL,
  key BLOB NOT NULL,
  value BLOB NOT NULL,
  kind INTEGER NOT NULL CHECK (kind IN (0, 1)),
  expires_at INTEGER,
  PRIMARY KEY (namespace, key)
);

-- Serves expiry sweeps; partial, so entries without expiry cost nothing.
CREATE INDEX {{table:expires_at}} ON {{table}} (expires_at) WHERE expires_at IS NOT NULL;
