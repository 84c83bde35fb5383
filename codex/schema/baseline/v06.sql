CREATE TABLE IF NOT EXISTS agent_sessions (
	id TEXT NOT NULL,
	agent_id TEXT NOT NULL,
	agent_name TEXT,
	started_at TEXT DEFAULT (datetime('now')) NOT NULL,
	ended_at TEXT,
	status TEXT DEFAULT 'active' NOT NULL,
	task_snapshot TEXT,
	context_summary TEXT,
	CONSTRAINT pk_agent_sessions PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_agent_sessions_agent ON agent_sessions (agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_sessions_status ON agent_sessions (status);
CREATE TABLE IF NOT EXISTS agent_events (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	agent_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	payload TEXT,
	timestamp TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_agent_events_agent ON agent_events (agent_id);
CREATE INDEX IF NOT EXISTS idx_agent_events_ts ON agent_events (timestamp);
CREATE INDEX IF NOT EXISTS idx_agent_events_type ON agent_events (event_type);
CREATE TABLE IF NOT EXISTS cost_records (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	agent_id TEXT NOT NULL,
	session_id TEXT,
	provider TEXT NOT NULL,
	model TEXT,
	input_tokens INTEGER DEFAULT 0 NOT NULL,
	output_tokens INTEGER DEFAULT 0 NOT NULL,
	cost_usd REAL DEFAULT (0.0) NOT NULL,
	timestamp TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_cost_records_agent ON cost_records (agent_id);
CREATE INDEX IF NOT EXISTS idx_cost_records_session ON cost_records (session_id);
CREATE INDEX IF NOT EXISTS idx_cost_records_ts ON cost_records (timestamp);
CREATE TABLE IF NOT EXISTS a2a_messages (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	sender TEXT NOT NULL,
	receiver TEXT,
	msg_type TEXT NOT NULL,
	payload TEXT,
	correlation_id TEXT,
	acknowledged INTEGER DEFAULT 0 NOT NULL,
	timestamp TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_a2a_messages_receiver ON a2a_messages (receiver);
CREATE INDEX IF NOT EXISTS idx_a2a_messages_sender ON a2a_messages (sender);
CREATE INDEX IF NOT EXISTS idx_a2a_messages_type ON a2a_messages (msg_type);
CREATE TABLE IF NOT EXISTS agent_metrics (
	agent_id TEXT NOT NULL,
	metric_name TEXT NOT NULL,
	metric_value REAL DEFAULT (0.0) NOT NULL,
	period TEXT DEFAULT 'session' NOT NULL,
	timestamp TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_agent_metrics PRIMARY KEY (agent_id, metric_name, period)
);
