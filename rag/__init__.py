"""docbot: rag."""
