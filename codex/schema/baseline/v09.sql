CREATE INDEX IF NOT EXISTS idx_codex_schema_lineage_baseline ON codex_schema_lineage (baseline_id);
