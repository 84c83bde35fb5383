CREATE TABLE IF NOT EXISTS agent_reliability (
	agent_id INTEGER NOT NULL,
	reliability REAL DEFAULT (0.5) NOT NULL,
	updated_at_ms INTEGER DEFAULT 0 NOT NULL,
	CONSTRAINT pk_agent_reliability PRIMARY KEY (agent_id)
);
