CREATE TABLE IF NOT EXISTS clavis_schema_version (
	version INTEGER NOT NULL,
	digest TEXT NOT NULL,
	applied_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT pk_clavis_schema_version PRIMARY KEY (version)
);
CREATE TABLE IF NOT EXISTS clavis_account_secrets (
	account_id TEXT NOT NULL,
	secret_id TEXT NOT NULL,
	current_version INTEGER NOT NULL,
	rotation_epoch INTEGER DEFAULT 0 NOT NULL,
	created_by TEXT NOT NULL,
	created_at_ms INTEGER NOT NULL,
	updated_by TEXT NOT NULL,
	updated_at_ms INTEGER NOT NULL,
	rotated_at_ms INTEGER,
	CONSTRAINT pk_clavis_account_secrets PRIMARY KEY (account_id, secret_id),
	CONSTRAINT ck_clavis_account_secrets_current_version_positive CHECK (current_version >= 1)
);
CREATE TABLE IF NOT EXISTS clavis_secret_versions (
	account_id TEXT NOT NULL,
	secret_id TEXT NOT NULL,
	version INTEGER NOT NULL,
	ciphertext BLOB NOT NULL,
	nonce BLOB NOT NULL,
	cipher TEXT DEFAULT 'AES-256-GCM' NOT NULL,
	key_id TEXT NOT NULL,
	operation TEXT NOT NULL,
	created_by TEXT NOT NULL,
	created_at_ms INTEGER NOT NULL,
	CONSTRAINT pk_clavis_secret_versions PRIMARY KEY (account_id, secret_id, version),
	CONSTRAINT fk_clavis_secret_versions_account_id_secret_id_clavis_account_secrets FOREIGN KEY(account_id, secret_id) REFERENCES clavis_account_secrets (account_id, secret_id) ON DELETE CASCADE,
	CONSTRAINT ck_clavis_secret_versions_version_positive CHECK (version >= 1),
	CONSTRAINT ck_clavis_secret_versions_nonce_length CHECK (length(nonce) = 12),
	CONSTRAINT ck_clavis_secret_versions_operation CHECK (operation IN ('put', 'rotate'))
);
CREATE TABLE IF NOT EXISTS clavis_profile_overrides (
	account_id TEXT NOT NULL,
	secret_id TEXT NOT NULL,
	profile TEXT NOT NULL,
	revision INTEGER NOT NULL,
	ciphertext BLOB NOT NULL,
	nonce BLOB NOT NULL,
	cipher TEXT DEFAULT 'AES-256-GCM' NOT NULL,
	key_id TEXT NOT NULL,
	updated_by TEXT NOT NULL,
	updated_at_ms INTEGER NOT NULL,
	CONSTRAINT pk_clavis_profile_overrides PRIMARY KEY (account_id, secret_id, profile),
	CONSTRAINT fk_clavis_profile_overrides_account_id_secret_id_clavis_account_secrets FOREIGN KEY(account_id, secret_id) REFERENCES clavis_account_secrets (account_id, secret_id) ON DELETE CASCADE,
	CONSTRAINT ck_clavis_profile_overrides_revision_positive CHECK (revision >= 1),
	CONSTRAINT ck_clavis_profile_overrides_nonce_length CHECK (length(nonce) = 12)
);
CREATE TABLE IF NOT EXISTS clavis_agent_delegations (
	delegation_id TEXT NOT NULL,
	account_id TEXT NOT NULL,
	secret_id TEXT NOT NULL,
	agent_id TEXT NOT NULL,
	scope TEXT DEFAULT 'read' NOT NULL,
	issued_by TEXT NOT NULL,
	issued_at_ms INTEGER NOT NULL,
	expires_at_ms INTEGER,
	revoked_at_ms INTEGER,
	CONSTRAINT pk_clavis_agent_delegations PRIMARY KEY (delegation_id),
	CONSTRAINT fk_clavis_agent_delegations_account_id_secret_id_clavis_account_secrets FOREIGN KEY(account_id, secret_id) REFERENCES clavis_account_secrets (account_id, secret_id) ON DELETE CASCADE,
	CONSTRAINT ck_clavis_agent_delegations_scope CHECK (scope IN ('read'))
);
CREATE INDEX IF NOT EXISTS idx_clavis_agent_delegations_secret ON clavis_agent_delegations (account_id, secret_id, agent_id);
CREATE TABLE IF NOT EXISTS clavis_audit_log (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at_ms INTEGER NOT NULL,
	account_id TEXT NOT NULL,
	secret_id TEXT,
	profile TEXT,
	version INTEGER,
	action TEXT NOT NULL,
	outcome TEXT NOT NULL,
	actor TEXT NOT NULL,
	detail TEXT,
	created_at TEXT DEFAULT (datetime('now')) NOT NULL,
	CONSTRAINT ck_clavis_audit_log_action CHECK (action IN ('init', 'put', 'get', 'list', 'history', 'delete', 'rotate', 'rekey', 'override', 'clear_override', 'delegate', 'revoke')),
	CONSTRAINT ck_clavis_audit_log_outcome CHECK (outcome IN ('ok', 'not_found', 'denied', 'error'))
);
CREATE INDEX IF NOT EXISTS idx_clavis_audit_log_secret ON clavis_audit_log (account_id, secret_id, id);
