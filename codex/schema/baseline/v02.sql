CREATE TABLE IF NOT EXISTS schema_version (
	version INTEGER NOT NULL,
	applied_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_schema_version PRIMARY KEY (version)
);
CREATE TABLE IF NOT EXISTS metadata (
	hash TEXT NOT NULL,
	"key" TEXT NOT NULL,
	value TEXT NOT NULL,
	CONSTRAINT pk_metadata PRIMARY KEY (hash, "key"),
	CONSTRAINT fk_metadata_hash_objects FOREIGN KEY(hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_metadata_hash ON metadata (hash);
CREATE TABLE IF NOT EXISTS packages (
	name TEXT NOT NULL,
	version TEXT NOT NULL,
	hash TEXT NOT NULL,
	description TEXT,
	author TEXT,
	license TEXT,
	published_at TEXT DEFAULT (datetime('now')) NOT NULL,
	yanked INTEGER DEFAULT 0 NOT NULL,
	CONSTRAINT pk_packages PRIMARY KEY (name, version),
	CONSTRAINT fk_packages_hash_objects FOREIGN KEY(hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_packages_hash ON packages (hash);
CREATE TABLE IF NOT EXISTS package_deps (
	package_name TEXT NOT NULL,
	package_version TEXT NOT NULL,
	dep_name TEXT NOT NULL,
	dep_version_req TEXT NOT NULL,
	CONSTRAINT pk_package_deps PRIMARY KEY (package_name, package_version, dep_name),
	CONSTRAINT fk_package_deps_package_name_package_version_packages FOREIGN KEY(package_name, package_version) REFERENCES packages (name, version)
);
CREATE TABLE IF NOT EXISTS execution_log (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	workflow_id TEXT NOT NULL,
	activity_name TEXT NOT NULL,
	status TEXT NOT NULL,
	attempt INTEGER DEFAULT 1 NOT NULL,
	input BLOB,
	output BLOB,
	error TEXT,
	options TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_exec_log_status ON execution_log (status);
CREATE INDEX IF NOT EXISTS idx_exec_log_workflow ON execution_log (workflow_id);
CREATE TABLE IF NOT EXISTS scheduled (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	function_hash TEXT NOT NULL,
	args BLOB,
	run_at TEXT NOT NULL,
	cron_expr TEXT,
	status TEXT DEFAULT 'pending' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT fk_scheduled_function_hash_objects FOREIGN KEY(function_hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_scheduled_run_at ON scheduled (run_at);
CREATE INDEX IF NOT EXISTS idx_scheduled_status ON scheduled (status);
CREATE TABLE IF NOT EXISTS components (
	name TEXT NOT NULL,
	namespace TEXT NOT NULL,
	schema_hash TEXT,
	description TEXT,
	version TEXT DEFAULT '0.1.0' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_components PRIMARY KEY (name),
	CONSTRAINT fk_components_schema_hash_objects FOREIGN KEY(schema_hash) REFERENCES objects (hash)
);
CREATE INDEX IF NOT EXISTS idx_components_namespace ON components (namespace);
