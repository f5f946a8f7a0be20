"""CML Application entry: `bot/cml_app.py` (CML runs script paths from the project root).

Starts the configured adapters (Slack in Socket Mode: applications sit behind
CML auth, so Slack cannot reach them; Teams over HTTP) and serves the status
page, /healthz and /metrics on CDSW_APP_PORT, bound to 127.0.0.1 as CML
requires. Adapters that die are restarted by the server's supervisor.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    # Run as a script, sys.path[0] is bot/ itself, whose modules (bot/types.py...) would
    # shadow top-level ones: use the project root instead, before any other import
    # (on Python 3.10, `import asyncio` imports `types`).
    sys.path[:1] = [os.path.dirname(os.path.dirname(os.path.realpath(__file__)))]

import asyncio


def main() -> int:
    os.environ.setdefault("DOCBOT_HOST", "127.0.0.1")
    os.environ.setdefault("DOCBOT_SLACK_MODE", "socket")
    from bot.config import ConfigError
    from bot.logs import configure
    from bot.server import serve

    settings = configure("docbot")
    try:
        return asyncio.run(serve(settings))
    except ConfigError as exc:
        # Some settings are checked only as serving starts (DOCBOT_GATE_MODEL, the Teams app
        # type): one line as `configure` gives, like `docbot serve`, not a traceback.
        print(f"docbot: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
