CREATE TABLE IF NOT EXISTS conversation_tool_calls (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	conversation_message_id INTEGER NOT NULL,
	ordinal INTEGER DEFAULT 0 NOT NULL,
	tool_name TEXT NOT NULL,
	arguments_json TEXT DEFAULT '{}' NOT NULL,
	result_json TEXT,
	status TEXT DEFAULT 'pending' NOT NULL,
	error_text TEXT,
	started_at_ms INTEGER DEFAULT 0 NOT NULL,
	finished_at_ms INTEGER DEFAULT 0 NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT fk_conversation_tool_calls_conversation_message_id_conversation_messages FOREIGN KEY(conversation_message_id) REFERENCES conversation_messages (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_conversation_tool_calls_msg_ord ON conversation_tool_calls (conversation_message_id, ordinal);
CREATE INDEX IF NOT EXISTS idx_conversation_tool_calls_status ON conversation_tool_calls (status);
CREATE INDEX IF NOT EXISTS idx_conversation_tool_calls_tool ON conversation_tool_calls (tool_name);
