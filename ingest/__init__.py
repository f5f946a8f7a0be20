"""docbot: ingest."""
