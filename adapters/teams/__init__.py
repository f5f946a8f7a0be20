"""Microsoft Teams adapter (Bot Framework): `TeamsAdapter(bot, settings).routes()`.

`parse` and `cards` are pure (activity -> core types, `Reply` -> activities); `bot_handler` is the
botbuilder `ActivityHandler`; `app` holds the `CloudAdapter`, authentication and the aiohttp route.
"""

from adapters.teams.app import MESSAGES_PATH, TeamsAdapter, check_startup

__all__ = ["MESSAGES_PATH", "TeamsAdapter", "check_startup"]
