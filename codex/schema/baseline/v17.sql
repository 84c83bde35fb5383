CREATE TABLE IF NOT EXISTS research_sessions (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_key TEXT NOT NULL,
	title TEXT DEFAULT '' NOT NULL,
	status TEXT DEFAULT 'active' NOT NULL,
	repository_id TEXT DEFAULT '' NOT NULL,
	config_json TEXT,
	summary_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_research_sessions_session_key UNIQUE (session_key)
);
CREATE INDEX IF NOT EXISTS idx_research_sessions_repo_created ON research_sessions (repository_id, created_at);
CREATE INDEX IF NOT EXISTS idx_research_sessions_status ON research_sessions (status);
CREATE TABLE IF NOT EXISTS conversation_versions (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	conversation_id INTEGER NOT NULL,
	version_index INTEGER NOT NULL,
	label TEXT DEFAULT '' NOT NULL,
	snapshot_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_conversation_versions_conversation_id_version_index UNIQUE (conversation_id, version_index),
	CONSTRAINT fk_conversation_versions_conversation_id_conversations FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversation_versions_conv ON conversation_versions (conversation_id);
CREATE TABLE IF NOT EXISTS conversation_edges (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	from_conversation_id INTEGER NOT NULL,
	to_conversation_id INTEGER NOT NULL,
	edge_kind TEXT DEFAULT 'related' NOT NULL,
	weight REAL DEFAULT (1.0) NOT NULL,
	metadata_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT ck_conversation_edges_no_self_loop CHECK (from_conversation_id != to_conversation_id),
	CONSTRAINT fk_conversation_edges_from_conversation_id_conversations FOREIGN KEY(from_conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
	CONSTRAINT fk_conversation_edges_to_conversation_id_conversations FOREIGN KEY(to_conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversation_edges_from ON conversation_edges (from_conversation_id);
CREATE INDEX IF NOT EXISTS idx_conversation_edges_to ON conversation_edges (to_conversation_id);
CREATE TABLE IF NOT EXISTS topic_evolution_events (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	topic_id INTEGER NOT NULL,
	event_kind TEXT NOT NULL,
	prior_label TEXT,
	new_label TEXT,
	detail_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT fk_topic_evolution_events_topic_id_topics FOREIGN KEY(topic_id) REFERENCES topics (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_topic_evolution_topic_created ON topic_evolution_events (topic_id, created_at);
