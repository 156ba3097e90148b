-- Entries of every namespace (KeyValueStore names, persistence store ids).
-- Namespaces and keys are stored as their UTF-8 bytes in VARBINARY columns and
-- compared byte for byte: MySQL's and MariaDB's text collations fold case and
-- accents, and MariaDB pads trailing spaces even under utf8mb4_bin, so "a",
-- "A", "a " and "á" would otherwise be one key. A prefix query is a range scan
-- of the primary key.
-- Widths: InnoDB limits a key to 3,072 bytes, so namespace and key get 1,536
-- bytes each (the backend refuses longer ones before they reach the server).
-- kind: 0 = the value was written as a string (stored as its UTF-8 bytes),
--       1 = the value was written as bytes.
-- expires_at: epoch milliseconds, NULL for entries that never expire; indexed
-- for expiry sweeps (DELETE ... ORDER BY expires_at LIMIT n).
-- One statement, so a crash leaves either no table or the whole table; the
-- index lives in it because MySQL 8 has no CREATE INDEX IF NOT EXISTS.
CREATE TABLE {{table}} (
  `namespace` VARBINARY(1536) NOT NULL,
  `key` VARBINARY(1536) NOT NULL,
  `value` LONGBLOB NOT NULL,
  `kind` TINYINT NOT NULL CHECK (`kind` IN (0, 1)),
  `expires_at` BIGINT NULL,
  PRIMARY KEY (`namespace`, `key`),
  INDEX {{table:expires_at}} (`expires_at`)
) ENGINE = InnoDB ROW_FORMAT = DYNAMIC;
