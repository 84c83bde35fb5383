CREATE TABLE IF NOT EXISTS usage_limit_definitions (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	metric_key TEXT NOT NULL,
	scope_kind TEXT NOT NULL,
	scope_id TEXT DEFAULT '' NOT NULL,
	period_kind TEXT NOT NULL,
	limit_value INTEGER NOT NULL,
	enforcement TEXT DEFAULT 'hard' NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_usage_limit_definitions_metric_key_scope_kind_scope_id_period_kind UNIQUE (metric_key, scope_kind, scope_id, period_kind)
);
CREATE INDEX IF NOT EXISTS idx_usage_limit_defs_lookup ON usage_limit_definitions (metric_key, scope_kind, scope_id);
CREATE TABLE IF NOT EXISTS usage_counter_snapshots (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	metric_key TEXT NOT NULL,
	scope_kind TEXT NOT NULL,
	scope_id TEXT DEFAULT '' NOT NULL,
	period_start TEXT NOT NULL,
	amount INTEGER DEFAULT 0 NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_usage_counter_snapshots_metric_key_scope_kind_scope_id_period_start UNIQUE (metric_key, scope_kind, scope_id, period_start)
);
CREATE INDEX IF NOT EXISTS idx_usage_counters_lookup ON usage_counter_snapshots (metric_key, scope_kind, scope_id, period_start);
