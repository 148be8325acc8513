"""The shape of romanad's ASGI middlewares that look at each HTTP answer before it leaves.

:class:`OnAnswer` calls :meth:`OnAnswer.started` with the request's scope and the answer's
start message (status and headers) just before that message is sent, for every HTTP
request; other scopes (lifespan) pass untouched. What ``started`` does to the message is
what the client receives; the body is never seen.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class OnAnswer:
    """An ASGI middleware around ``app`` whose :meth:`started` sees every answer's start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def starting(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.started(scope, message)
            await send(message)

        await self.app(scope, receive, starting)

    def started(self, scope: Scope, message: Message) -> None:
        """Look at (or amend) the start ``message`` of the answer to ``scope``."""
        raise NotImplementedError
