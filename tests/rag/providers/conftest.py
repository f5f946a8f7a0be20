"""Local stand-ins for the CML endpoints: aiohttp servers on 127.0.0.1, port 0."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from tests.local_net import start_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """`url = await serve(handler)`: runs `handler` for every POST/GET path; returns the base URL."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        runner, url = await start_app(app, shutdown_timeout=0.1)
        runners.append(runner)
        return url

    yield start
    for runner in runners:
        await runner.cleanup()
