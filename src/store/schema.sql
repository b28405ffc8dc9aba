-- modcachefs store index segment (see src/store/segments.rs). Every statement is
-- idempotent: it is applied to each new segment, and to an old single index.db
-- when it is migrated into the first segment. The schema version lives in PRAGMA
-- user_version (set by the code); a segment whose version is newer than the
-- binary's is refused.

-- One row per module version. A go.mod-only version (needed for the module
-- graph, sources never used) has no zip: zip_blob and zip_h1 are NULL.
CREATE TABLE IF NOT EXISTS modules (
    id            INTEGER PRIMARY KEY,
    path          TEXT    NOT NULL,          -- module path, unescaped (github.com/BurntSushi/toml)
    version       TEXT    NOT NULL,          -- canonical version, unescaped
    mod_blob      TEXT    NOT NULL,          -- sha256 hex of the .mod bytes (blobs/<2>/<62>)
    mod_h1        TEXT    NOT NULL,          -- Hash1 of the .mod, as go.sum's "/go.mod" line
    mod_h1_origin TEXT    NOT NULL,          -- "computed" or "go.sum:<file>" when a go.sum agreed
    info          BLOB,                      -- canonical .info bytes; NULL when the source had none
    zip_blob      TEXT,                      -- sha256 hex of the zip bytes
    zip_h1        TEXT,                      -- Hash1 of the zip's files (.ziphash content)
    zip_h1_origin TEXT,                      -- "computed", ".ziphash" or "go.sum:<file>"
    zip_size      INTEGER,                   -- bytes of the zip
    file_count    INTEGER,                   -- regular files in the zip
    tree_size     INTEGER,                   -- uncompressed bytes of those files
    UNIQUE (path, version)
);

-- Tombstones (schema 3): module versions removed by `modcachefs rm` in this
-- segment's generation. They hide rows of the same (path, version) in OLDER
-- segments; a segment never holds both a row and a tombstone for one version.
CREATE TABLE IF NOT EXISTS removed (
    path       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    removed_at INTEGER NOT NULL,             -- unix seconds (gc keeps their blobs for its grace period)
    PRIMARY KEY (path, version)
) WITHOUT ROWID;

-- Every file of every module zip, so a mount can list and stat without opening a zip.
-- name is relative to the module root ("go.mod", "a/b.go"), entries are regular files.
CREATE TABLE IF NOT EXISTS entries (
    module_id       INTEGER NOT NULL REFERENCES modules(id),
    name            TEXT    NOT NULL,
    data_offset     INTEGER NOT NULL,        -- offset of the compressed data in the zip blob
    compressed_size INTEGER NOT NULL,
    size            INTEGER NOT NULL,
    method          INTEGER NOT NULL,        -- 0 stored, 8 deflate
    crc32           INTEGER NOT NULL,
    PRIMARY KEY (module_id, name)
) WITHOUT ROWID;

-- The sha256 of every file of a module zip (schema 3), so a mount can check the
-- zip's file list against its h1 without inflating anything, then each file as
-- it is extracted. files: the 32-byte digests of the module's entries, in
-- entries order (by name); dirs: the zip's directory entries (which h1 hashes,
-- as empty files, but which are not extracted), each as named in the zip less its
-- leading "<module>@<version>" (so "/" is the bare root entry, "/sub/" a
-- directory), each followed by "\n". A module imported by an older modcachefs has no row
-- here: it is verified whole on first access.
CREATE TABLE IF NOT EXISTS digests (
    module_id INTEGER PRIMARY KEY REFERENCES modules(id),
    files     BLOB NOT NULL,
    dirs      TEXT NOT NULL
);

-- Trusted sums from go.sum files, kept even for modules the store does not hold
-- (yet): a later import or a mount checks against them.
CREATE TABLE IF NOT EXISTS sums (
    path    TEXT NOT NULL,
    version TEXT NOT NULL,
    kind    TEXT NOT NULL CHECK (kind IN ('zip', 'mod')),
    h1      TEXT NOT NULL,
    source  TEXT NOT NULL,                   -- the go.sum file it came from
    PRIMARY KEY (path, version, kind, h1)
) WITHOUT ROWID;

-- Checksum databases (schema 2). Only verified parts are stored: see src/sumdb.
-- The keys signatures were checked with (GOSUMDB syntax name+hash+key).
CREATE TABLE IF NOT EXISTS sumdb_keys (
    db   TEXT NOT NULL,
    vkey TEXT NOT NULL,
    PRIMARY KEY (db, vkey)
) WITHOUT ROWID;

-- Signed tree heads: size, root hash (base64), and the signed note itself.
CREATE TABLE IF NOT EXISTS sumdb_trees (
    db   TEXT    NOT NULL,
    size INTEGER NOT NULL,
    hash TEXT    NOT NULL,
    note BLOB    NOT NULL,
    PRIMARY KEY (db, size)
) WITHOUT ROWID;

-- Records proved to be in a signed tree: id in the log and its go.sum lines.
CREATE TABLE IF NOT EXISTS sumdb_records (
    db      TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    version TEXT    NOT NULL,
    id      INTEGER NOT NULL,
    text    TEXT    NOT NULL,
    PRIMARY KEY (db, path, version)
) WITHOUT ROWID;

-- Hash tiles (height 8) that hashed to a signed tree: the widest verified data
-- of each (level, number); its width is length/32.
CREATE TABLE IF NOT EXISTS sumdb_tiles (
    db    TEXT    NOT NULL,
    level INTEGER NOT NULL,
    n     INTEGER NOT NULL,
    data  BLOB    NOT NULL,
    PRIMARY KEY (db, level, n)
) WITHOUT ROWID;
