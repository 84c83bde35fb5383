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

CREATE TABLE IF NOT EXISTS users (
	id TEXT NOT NULL,
	display_name TEXT NOT NULL,
	email TEXT,
	avatar_url TEXT,
	role TEXT DEFAULT 'user' NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_users PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS user_preferences (
	user_id TEXT NOT NULL,
	"key" TEXT NOT NULL,
	value TEXT NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_user_preferences PRIMARY KEY (user_id, "key")
);
CREATE INDEX IF NOT EXISTS idx_user_preferences_user ON user_preferences (user_id);
CREATE TABLE IF NOT EXISTS memories (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	agent_id TEXT NOT NULL,
	session_id TEXT NOT NULL,
	memory_type TEXT NOT NULL,
	content TEXT NOT NULL,
	metadata TEXT,
	importance REAL DEFAULT (1.0) NOT NULL,
	vcs_snapshot_id TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_memories_agent ON memories (agent_id);
CREATE INDEX IF NOT EXISTS idx_memories_created ON memories (created_at);
CREATE INDEX IF NOT EXISTS idx_memories_type ON memories (memory_type);
CREATE TABLE IF NOT EXISTS knowledge_nodes (
	id TEXT NOT NULL,
	label TEXT NOT NULL,
	content TEXT,
	node_type TEXT DEFAULT 'concept' NOT NULL,
	metadata TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_knowledge_nodes PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS knowledge_edges (
	src_id TEXT NOT NULL,
	dst_id TEXT NOT NULL,
	relation TEXT NOT NULL,
	weight REAL DEFAULT (1.0) NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_knowledge_edges PRIMARY KEY (src_id, dst_id, relation)
);
CREATE INDEX IF NOT EXISTS idx_knowledge_edges_dst ON knowledge_edges (dst_id);
CREATE INDEX IF NOT EXISTS idx_knowledge_edges_src ON knowledge_edges (src_id);
CREATE TABLE IF NOT EXISTS embeddings (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	source_type TEXT,
	source_id TEXT NOT NULL,
	dim INTEGER NOT NULL,
	vector BLOB NOT NULL,
	metadata TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_embeddings_source ON embeddings (source_type, source_id);
CREATE TABLE IF NOT EXISTS behavior_events (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	user_id TEXT NOT NULL,
	event_type TEXT NOT NULL,
	context TEXT,
	metadata TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_behavior_type ON behavior_events (event_type);
CREATE INDEX IF NOT EXISTS idx_behavior_user ON behavior_events (user_id);
CREATE TABLE IF NOT EXISTS learned_patterns (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	user_id TEXT NOT NULL,
	pattern_type TEXT NOT NULL,
	category TEXT NOT NULL,
	description TEXT NOT NULL,
	confidence REAL NOT NULL,
	vcs_snapshot_id TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_learned_patterns_category ON learned_patterns (user_id, category);
CREATE INDEX IF NOT EXISTS idx_learned_patterns_user ON learned_patterns (user_id);
CREATE TABLE IF NOT EXISTS llm_interactions (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_id TEXT NOT NULL,
	user_id TEXT,
	prompt TEXT NOT NULL,
	response TEXT NOT NULL,
	model_version TEXT NOT NULL,
	latency_ms INTEGER,
	token_count INTEGER,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_llm_interactions_session ON llm_interactions (session_id);
CREATE TABLE IF NOT EXISTS llm_feedback (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	interaction_id INTEGER NOT NULL,
	user_id TEXT,
	rating INTEGER,
	feedback_type TEXT NOT NULL,
	correction_text TEXT,
	preferred_response TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_llm_feedback_interaction ON llm_feedback (interaction_id);
CREATE TABLE IF NOT EXISTS snippets (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	language TEXT NOT NULL,
	title TEXT NOT NULL,
	code TEXT NOT NULL,
	description TEXT,
	tags TEXT,
	author_id TEXT,
	source_ref TEXT,
	embedding_ref TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_snippets_lang ON snippets (language);
CREATE INDEX IF NOT EXISTS idx_snippets_title ON snippets (title);
CREATE TABLE IF NOT EXISTS artifacts (
	id TEXT NOT NULL,
	artifact_type TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT,
	author_id TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	version TEXT NOT NULL,
	tags TEXT,
	status TEXT DEFAULT 'public' NOT NULL,
	downloads INTEGER DEFAULT 0 NOT NULL,
	avg_rating REAL DEFAULT (0.0) NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_artifacts PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_artifacts_name ON artifacts (name);
CREATE INDEX IF NOT EXISTS idx_artifacts_type ON artifacts (artifact_type);
CREATE TABLE IF NOT EXISTS artifact_reviews (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	artifact_id TEXT NOT NULL,
	reviewer_id TEXT NOT NULL,
	status TEXT NOT NULL,
	comment TEXT,
	rating INTEGER,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_artifact_reviews_target ON artifact_reviews (artifact_id);
CREATE TABLE IF NOT EXISTS agents (
	id TEXT NOT NULL,
	name TEXT NOT NULL,
	description TEXT,
	system_prompt TEXT,
	tools TEXT,
	model_config TEXT,
	owner_id TEXT,
	version TEXT NOT NULL,
	is_public INTEGER DEFAULT 0 NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_agents PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_agents_name ON agents (name);
CREATE TABLE IF NOT EXISTS skill_manifests (
	id TEXT NOT NULL,
	version TEXT NOT NULL,
	manifest_json TEXT NOT NULL,
	skill_md TEXT NOT NULL,
	published_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_skill_manifests PRIMARY KEY (id, version)
);
CREATE INDEX IF NOT EXISTS idx_skill_manifests_id ON skill_manifests (id);
CREATE TABLE IF NOT EXISTS db_snapshots (
	id INTEGER NOT NULL,
	agent_id TEXT NOT NULL,
	description TEXT NOT NULL,
	payload TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_db_snapshots PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS research_metrics (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_id TEXT NOT NULL,
	metric_type TEXT NOT NULL,
	metric_value REAL,
	metadata_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_research_metrics_session ON research_metrics (session_id, metric_type);
CREATE TABLE IF NOT EXISTS eval_runs (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	run_id TEXT NOT NULL,
	model_path TEXT,
	format_validity REAL,
	safety_rejection_rate REAL,
	quality_proxy REAL,
	metadata_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_eval_runs_run_id UNIQUE (run_id)
);
CREATE TABLE IF NOT EXISTS builder_sessions (
	id TEXT NOT NULL,
	payload_json TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_builder_sessions PRIMARY KEY (id)
);
CREATE TABLE IF NOT EXISTS session_turns (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	session_id TEXT NOT NULL,
	payload_json TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_session_turns_session ON session_turns (session_id);
CREATE TABLE IF NOT EXISTS typed_stream_events (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	stream_id TEXT NOT NULL,
	payload_json TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_typed_stream_events_stream ON typed_stream_events (stream_id);
CREATE TABLE IF NOT EXISTS populi_reviews (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	target_id TEXT NOT NULL,
	review_kind TEXT NOT NULL,
	payload_json TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_populi_reviews_target ON populi_reviews (target_id);

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

CREATE TABLE IF NOT EXISTS codex_schema_lineage (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	baseline_id TEXT NOT NULL,
	schema_digest TEXT NOT NULL,
	provenance TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE TABLE IF NOT EXISTS codex_change_log (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	topic TEXT NOT NULL,
	entity_kind TEXT,
	entity_id TEXT,
	change_kind TEXT NOT NULL,
	payload_json TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_codex_change_log_created ON codex_change_log (created_at);
CREATE INDEX IF NOT EXISTS idx_codex_change_log_topic ON codex_change_log (topic);
CREATE TABLE IF NOT EXISTS codex_subscriptions (
	id TEXT NOT NULL,
	topic TEXT NOT NULL,
	filter_json TEXT,
	client_hint TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_codex_subscriptions PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_codex_subscriptions_topic ON codex_subscriptions (topic);
CREATE TABLE IF NOT EXISTS codex_query_snapshots (
	id TEXT NOT NULL,
	query_name TEXT NOT NULL,
	snapshot_json TEXT NOT NULL,
	digest TEXT NOT NULL,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_codex_query_snapshots PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS idx_codex_query_snapshots_name ON codex_query_snapshots (query_name);
CREATE TABLE IF NOT EXISTS codex_projection_versions (
	projection_name TEXT NOT NULL,
	version INTEGER NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_codex_projection_versions PRIMARY KEY (projection_name, version)
);

CREATE INDEX IF NOT EXISTS idx_codex_schema_lineage_baseline ON codex_schema_lineage (baseline_id);

CREATE TABLE IF NOT EXISTS agent_reliability (
	agent_id INTEGER NOT NULL,
	reliability REAL DEFAULT (0.5) NOT NULL,
	updated_at_ms INTEGER DEFAULT 0 NOT NULL,
	CONSTRAINT pk_agent_reliability PRIMARY KEY (agent_id)
);

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

CREATE TABLE IF NOT EXISTS search_documents (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	source_uri TEXT NOT NULL,
	title TEXT DEFAULT '' NOT NULL,
	mime_type TEXT DEFAULT '' NOT NULL,
	content_hash TEXT DEFAULT '' NOT NULL,
	ingested_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_search_documents_hash ON search_documents (content_hash);
CREATE UNIQUE INDEX IF NOT EXISTS idx_search_documents_uri ON search_documents (source_uri);
CREATE TABLE IF NOT EXISTS search_document_chunks (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	document_id INTEGER NOT NULL,
	chunk_index INTEGER NOT NULL,
	body_text TEXT NOT NULL,
	embedding_ref TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT uq_search_document_chunks_document_id_chunk_index UNIQUE (document_id, chunk_index),
	CONSTRAINT fk_search_document_chunks_document_id_search_documents FOREIGN KEY(document_id) REFERENCES search_documents (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_search_chunks_doc ON search_document_chunks (document_id);
CREATE TABLE IF NOT EXISTS search_indexing_jobs (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	job_kind TEXT NOT NULL,
	target_uri TEXT DEFAULT '' NOT NULL,
	status TEXT DEFAULT 'queued' NOT NULL,
	detail_json TEXT,
	error_text TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	updated_at TEXT DEFAULT (datetime('now')) NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_search_jobs_status ON search_indexing_jobs (status);

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
