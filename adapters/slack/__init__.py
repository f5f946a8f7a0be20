"""Slack adapter: Socket Mode or HTTP Events API through slack-bolt's AsyncApp.

`SlackAdapter(bot, settings)` is the entry point; `parse`, `render` and `mrkdwn`
are pure helpers; `stand_in` is a local stand-in of Slack for tests and demos.
"""

from adapters.slack.app import SlackAdapter

__all__ = ["SlackAdapter"]
