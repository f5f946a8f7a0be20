"""docbot: deploy."""
