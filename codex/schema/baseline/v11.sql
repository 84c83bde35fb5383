CREATE TABLE IF NOT EXISTS conversations (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	user_id TEXT,
	title TEXT DEFAULT '' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT fk_conversations_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX IF NOT EXISTS idx_conversations_updated ON conversations (updated_at);
CREATE INDEX IF NOT EXISTS idx_conversations_user ON conversations (user_id);
CREATE TABLE IF NOT EXISTS conversation_messages (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	conversation_id INTEGER NOT NULL,
	role TEXT NOT NULL,
	content_text TEXT DEFAULT '' NOT NULL,
	payload_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT fk_conversation_messages_conversation_id_conversations FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversation_messages_conv ON conversation_messages (conversation_id);
CREATE INDEX IF NOT EXISTS idx_conversation_messages_created ON conversation_messages (conversation_id, created_at);
