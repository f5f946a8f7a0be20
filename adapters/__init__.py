"""docbot: adapters."""
