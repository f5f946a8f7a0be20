"""What the chat adapters need from the bot core, as protocols.

Kept narrow so adapters can be tested with small stand-ins and the core can
evolve; `bot.core.Bot` satisfies both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from bot.types import IncomingMessage, Reply


class StateStoreLike(Protocol):
    def claim_event(self, key: str, lease_s: float = 120.0) -> bool: ...

    def complete_event(self, key: str) -> None: ...

    def release_event(self, key: str) -> None: ...

    def put(self, key: str, value: str, ttl_s: float) -> None: ...

    def get(self, key: str) -> str | None: ...


class BotLike(Protocol):
    """The core, as adapters use it."""

    store: StateStoreLike

    async def handle(
        self, msg: IncomingMessage, on_delta: Callable[[str], Awaitable[None]] | None = None
    ) -> Reply: ...

    async def record_feedback(
        self, answer_id: str, platform: str, user_id: str, value: str
    ) -> str: ...

    def is_admin(self, platform: str, user_id: str) -> bool: ...
