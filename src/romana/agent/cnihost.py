"""The CNI plugin run inside the agent: ``POST /v1/cni`` from the compiled ``romana-cni``.

A runtime starts ``romana-cni`` for every CNI command. Started as a Python program the
plugin would spend longer getting to its first line than the whole ADD of a compiled
plugin, so ``romana-cni`` is a small C front (``integrations/cni/front/romana-cni.c``) that
forwards the invocation here and prints the answer. Here the invocation runs through the
very same code as the Python plugin (:func:`romana.integrations.cni.commands.execute`), with
an agent client that calls this agent's local API in-process instead of over the socket: one
implementation of the CNI contract, whichever way it is reached.

Wire format (``Content-Type: application/vnd.romana.cni``):

* request body: ``NAME=VALUE\\0`` for each ``CNI_*`` variable of the plugin's environment,
  an empty entry (``\\0``) ending the list, then the configuration exactly as read on stdin;
* answer: 200 with ``Romana-Cni-Exit`` (the plugin's exit code), ``Romana-Cni-Stdout-Length``
  and a body that is the plugin's stdout followed by its stderr.

Any other answer (a malformed body gets 400) makes the front hand the invocation to the
Python plugin, so nothing a runtime sends is lost on the way.

Invariants: only ``CNI_*`` names are accepted; the command runs on a worker thread (the
plugin code blocks) while every endpoint change still goes through the local API's handlers
on the event loop, so the per-endpoint locks and the writer thread serve both paths alike.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io

from romana.agent import http
from romana.core import errors
from romana.integrations.cni import agentapi, plugin, request

CONTENT_TYPE = "application/vnd.romana.cni"
PATH = ("v1", "cni")
MAX_ENTRIES = 64
# Each thread waits on the event loop for its answer; more than the runtime's parallelism
# on one host would only queue there.
WORKERS = 16


def parse_invocation(body: bytes) -> tuple[dict[str, str], bytes]:
    """(environment, stdin) of a forwarded invocation; :class:`http.MalformedBody` (400)
    naming ``body``."""
    env: dict[str, str] = {}
    offset = 0
    while True:
        end = body.find(b"\0", offset)
        if end < 0:
            raise http.MalformedBody(
                [errors.Issue("body", "the environment list has no empty entry ending it")]
            )
        entry = body[offset:end]
        offset = end + 1
        if not entry:
            return env, body[offset:]
        name, sep, value = entry.partition(b"=")
        text = name.decode("ascii", "replace")
        if not sep or not text.startswith("CNI_"):
            raise http.MalformedBody(
                [errors.Issue("body", f"entry {text!r} is not a CNI_NAME=value variable")]
            )
        if len(env) >= MAX_ENTRIES:
            raise http.MalformedBody(
                [errors.Issue("body", f"more than {MAX_ENTRIES} environment entries")]
            )
        env[text] = value.decode("utf-8", "surrogateescape")


class InProcessClient(agentapi.AgentClient):
    """The plugin's agent client, answered by ``handler`` on ``loop`` instead of a socket.

    Requests and answers are the bytes the socket would carry, parsed by the same code, so
    the plugin cannot tell the two apart; only the socket and the extra process are gone.
    """

    def __init__(
        self, handler: http.Handler, loop: asyncio.AbstractEventLoop, timeout: float
    ) -> None:
        super().__init__("in-process", timeout)
        self._handler = handler
        self._loop = loop

    def _transport(
        self, method: str, path: str, headers: dict[str, str], data: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        req = http.make_request(method, path, headers, data)
        future = asyncio.run_coroutine_threadsafe(http.dispatch(self._handler, req), self._loop)
        try:
            response = future.result(self.timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise errors.Unavailable(
                f"romana-agent did not answer {method} {path} within {self.timeout:g} s"
            ) from exc
        fields = {name.lower(): value for name, value in response.headers.items()}
        return response.status, fields, http.payload(response)


class CniHost:
    """Serves ``POST /v1/cni`` by running the plugin in-process against ``api``."""

    def __init__(self, api: http.Handler) -> None:
        self._api = api
        self._pool = concurrent.futures.ThreadPoolExecutor(WORKERS, "romana-cni")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def __call__(self, req: http.Request) -> http.Response:
        if req.segments != PATH:
            return await self._api(req)
        if req.method != "POST":
            body = http.problem_body(405, "method-not-allowed", "use POST on /v1/cni")
            return http.Response(405, body, {"Allow": "POST"})
        env, stdin = parse_invocation(req.body)
        loop = asyncio.get_running_loop()
        exit_code, out, err = await loop.run_in_executor(self._pool, self._run, loop, env, stdin)
        return http.Response(
            200,
            out + err,
            {
                "Content-Type": CONTENT_TYPE,
                "Romana-Cni-Exit": str(exit_code),
                "Romana-Cni-Stdout-Length": str(len(out)),
            },
        )

    def _run(
        self, loop: asyncio.AbstractEventLoop, env: dict[str, str], stdin: bytes
    ) -> tuple[int, bytes, bytes]:
        out, err = io.StringIO(), io.StringIO()

        def connect(settings: request.Settings) -> agentapi.AgentClient:
            return InProcessClient(self._api, loop, settings.agent_timeout)

        code = plugin.run(env, io.BytesIO(stdin), out, err, connect)
        return code, out.getvalue().encode(), err.getvalue().encode()
