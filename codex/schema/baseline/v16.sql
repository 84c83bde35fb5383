CREATE TABLE IF NOT EXISTS processing_runs (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	run_kind TEXT NOT NULL,
	status TEXT DEFAULT 'queued' NOT NULL,
	scope_kind TEXT DEFAULT '' NOT NULL,
	scope_id TEXT DEFAULT '' NOT NULL,
	correlation_id TEXT DEFAULT '' NOT NULL,
	payload_json TEXT,
	error_text TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	started_at TEXT,
	completed_at TEXT
);
CREATE INDEX IF NOT EXISTS idx_processing_runs_kind ON processing_runs (run_kind);
CREATE INDEX IF NOT EXISTS idx_processing_runs_scope ON processing_runs (scope_kind, scope_id);
CREATE INDEX IF NOT EXISTS idx_processing_runs_status_created ON processing_runs (status, created_at);
CREATE TABLE IF NOT EXISTS processing_run_steps (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	processing_run_id INTEGER NOT NULL,
	step_index INTEGER NOT NULL,
	step_name TEXT NOT NULL,
	status TEXT DEFAULT 'pending' NOT NULL,
	detail_json TEXT,
	started_at_ms INTEGER DEFAULT 0 NOT NULL,
	finished_at_ms INTEGER DEFAULT 0 NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_processing_run_steps_processing_run_id_step_index UNIQUE (processing_run_id, step_index),
	CONSTRAINT fk_processing_run_steps_processing_run_id_processing_runs FOREIGN KEY(processing_run_id) REFERENCES processing_runs (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_processing_run_steps_run ON processing_run_steps (processing_run_id);
CREATE TABLE IF NOT EXISTS audit_log (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	actor_kind TEXT NOT NULL,
	actor_id TEXT DEFAULT '' NOT NULL,
	action TEXT NOT NULL,
	resource_kind TEXT DEFAULT '' NOT NULL,
	resource_id TEXT DEFAULT '' NOT NULL,
	scope_kind TEXT DEFAULT '' NOT NULL,
	scope_id TEXT DEFAULT '' NOT NULL,
	payload_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_audit_log_resource_created ON audit_log (resource_kind, resource_id, created_at);
CREATE INDEX IF NOT EXISTS idx_audit_log_scope_created ON audit_log (scope_kind, scope_id, created_at);
