CREATE TABLE IF NOT EXISTS objects (
	hash TEXT NOT NULL,
	kind TEXT NOT NULL,
	data BLOB NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_objects PRIMARY KEY (hash)
);
CREATE TABLE IF NOT EXISTS names (
	namespace TEXT NOT NULL,
	name TEXT NOT NULL,
	hash TEXT NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_names PRIMARY KEY (namespace, name),
	CONSTRAINT fk_names_hash_objects FOREIGN KEY(hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_names_hash ON names (hash);
CREATE TABLE IF NOT EXISTS causal (
	hash TEXT NOT NULL,
	parent_hash TEXT NOT NULL,
	CONSTRAINT pk_causal PRIMARY KEY (hash, parent_hash),
	CONSTRAINT fk_causal_hash_objects FOREIGN KEY(hash) REFERENCES objects (hash),
	CONSTRAINT fk_causal_parent_hash_objects FOREIGN KEY(parent_hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_causal_parent ON causal (parent_hash);
