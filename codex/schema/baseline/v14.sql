CREATE TABLE IF NOT EXISTS topics (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	slug TEXT NOT NULL,
	label TEXT DEFAULT '' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_topics_slug UNIQUE (slug)
);
CREATE INDEX IF NOT EXISTS idx_topics_label ON topics (label);
CREATE TABLE IF NOT EXISTS conversation_topics (
	conversation_id INTEGER NOT NULL,
	topic_id INTEGER NOT NULL,
	weight REAL DEFAULT (1.0) NOT NULL,
	CONSTRAINT pk_conversation_topics PRIMARY KEY (conversation_id, topic_id),
	CONSTRAINT fk_conversation_topics_conversation_id_conversations FOREIGN KEY(conversation_id) REFERENCES conversations (id) ON DELETE CASCADE,
	CONSTRAINT fk_conversation_topics_topic_id_topics FOREIGN KEY(topic_id) REFERENCES topics (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversation_topics_topic ON conversation_topics (topic_id);
CREATE TABLE IF NOT EXISTS conversation_message_topics (
	conversation_message_id INTEGER NOT NULL,
	topic_id INTEGER NOT NULL,
	CONSTRAINT pk_conversation_message_topics PRIMARY KEY (conversation_message_id, topic_id),
	CONSTRAINT fk_conversation_message_topics_conversation_message_id_conversation_messages FOREIGN KEY(conversation_message_id) REFERENCES conversation_messages (id) ON DELETE CASCADE,
	CONSTRAINT fk_conversation_message_topics_topic_id_topics FOREIGN KEY(topic_id) REFERENCES topics (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_conversation_message_topics_topic ON conversation_message_topics (topic_id);
