"""docbot: the bot core (commands, settings, state) and the CLI."""

__version__ = "0.1.0"
