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
