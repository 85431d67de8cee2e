"""The live side of an MCP pool: server processes (or an URL server's connection) on a thread of their own, and
one blocking ``call`` for the toolkits to use.

Toolkits execute calls synchronously (``Environment.execute``), while the ``mcp`` SDK is asynchronous and a
connection must be opened and closed by the same task. So each ``McpHost`` runs an event loop on a daemon thread;
each live server is one task there that opens the connection, serves calls from a queue, and closes it (ending
the process and deleting its state folder).

Servers are matched to calls by state, not by episode: a live server records the calls it has executed, and a
call made after calls ``L`` goes to an idle server that has executed exactly ``L``; when there is none, a fresh
server (a new process on a fresh copy of the seed) replays ``L`` first. So branching rollouts, snapshots and
restores need nothing of the server: whatever a toolkit's call log says, some server is brought to it. A spare
fresh server is started ahead, so that an episode's first call rarely waits for a process to start.

An URL server is one connection whose process Magnet does not own: with a ``reset`` tool, it is reset (and the
calls replayed) whenever a call's log is not what it has executed; without one, its state carries over (logged
once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from magnet.errors import ToolkitError
from magnet.tools.mcp_entry import McpServer

logger = logging.getLogger(__name__)

CallKey = str
LoggedCall = tuple[str, dict[str, Any]]


class McpServerError(ToolkitError):
    """An MCP server could not be started, reached, or answered no result."""


def _server_log_tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return ("; its stderr ends: " + " | ".join(text[-lines:])) if text else ""


class _LiveServer:
    """One connection, served by one task on the host's loop."""

    def __init__(self, server: McpServer, start_timeout: float):
        self.server = server
        self.start_timeout = start_timeout
        self.executed: list[CallKey] = []
        self.requests: asyncio.Queue = asyncio.Queue()
        self.ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self.folder = Path(tempfile.mkdtemp(prefix="magnet-mcp-"))
        self.task = asyncio.ensure_future(self._serve())

    async def _serve(self) -> None:
        from mcp import Client, StdioServerParameters
        from mcp.client.stdio import stdio_client

        state = self.folder / "state"
        log_path = self.folder / "server.log"
        try:
            if self.server.seed is not None:
                shutil.copytree(self.server.seed, state, symlinks=True)
            else:
                state.mkdir()
            with log_path.open("w", encoding="utf-8") as errlog:
                if self.server.url is not None:
                    transport: Any = self.server.url
                else:
                    command, *arguments = self.server.command
                    parameters = StdioServerParameters(command=command, args=arguments, cwd=str(state))
                    transport = stdio_client(parameters, errlog=errlog)
                async with Client(transport) as client:
                    self.ready.set_result(client)
                    while (item := await self.requests.get()) is not None:
                        future, coroutine_of = item
                        try:
                            result = await coroutine_of(client)
                        except Exception as error:  # the caller decides; this server goes on serving
                            if not future.done():
                                future.set_exception(error)
                        else:
                            if not future.done():
                                future.set_result(result)
        except BaseException as error:
            if not self.ready.done():
                where = " ".join(self.server.command) or self.server.url
                self.ready.set_exception(
                    McpServerError(
                        f"MCP server {self.server.name} ({where}) did not start: {type(error).__name__}: "
                        f"{_unwrap(error)}{_server_log_tail(log_path)}"
                    )
                )
            elif not isinstance(error, asyncio.CancelledError | Exception):
                raise
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            while not self.requests.empty():  # calls queued after the connection ended
                item = self.requests.get_nowait()
                if item is not None and not item[0].done():
                    item[0].set_exception(McpServerError(f"MCP server {self.server.name} closed"))

    async def started(self) -> Any:
        return await asyncio.wait_for(asyncio.shield(self.ready), self.start_timeout)

    async def run(self, coroutine_of) -> Any:
        """Run ``coroutine_of(client)`` on this server's connection, in its task."""
        await self.started()
        if self.task.done():
            raise McpServerError(f"MCP server {self.server.name} has exited")
        future = asyncio.get_running_loop().create_future()
        self.requests.put_nowait((future, coroutine_of))
        return await future

    async def close(self) -> None:
        self.requests.put_nowait(None)
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(self.task, 10)
        if not self.task.done():
            self.task.cancel()


def _unwrap(error: BaseException) -> str:
    """The first leaf of an exception group (anyio's task groups wrap what the transport raised)."""
    while getattr(error, "exceptions", None):  # BaseExceptionGroup (or its backport on Python 3.10)
        error = error.exceptions[0]
    return f"{type(error).__name__}: {error}" if not str(error) else str(error)


class McpHost:
    """The live servers of one ``mcp:`` pool entry, on a thread of their own.

    Parameters
    ----------
    server:
        The entry.
    max_idle:
        Live servers kept for later calls (least recently used closed first).
    call_timeout, start_timeout:
        Seconds a call, and a server's start, may take before it is an error.
    """

    def __init__(
        self, server: McpServer, *, max_idle: int = 8, call_timeout: float = 60.0, start_timeout: float = 60.0
    ):
        self.server = server
        self.max_idle = max_idle
        self.call_timeout = call_timeout
        self.start_timeout = start_timeout
        self.servers_started = 0
        self._idle: OrderedDict[int, _LiveServer] = OrderedDict()
        self._spare: _LiveServer | None = None
        self._warned_no_reset = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- the thread --------------------------------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=f"magnet-mcp-{self.server.name}", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _submit(self, coroutine, timeout: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._ensure_loop())
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise McpServerError(f"MCP server {self.server.name}: no answer within {timeout:g} s") from None

    # -- servers -----------------------------------------------------------------------------------------------

    def _start(self) -> _LiveServer:
        self.servers_started += 1
        return _LiveServer(self.server, self.start_timeout)

    async def _fresh(self) -> _LiveServer:
        """A server that has executed nothing: the spare started ahead (then another spare), or a new one."""
        if self.server.url is not None:
            return await self._url_server()
        live, self._spare = self._spare, None
        if live is None or live.task.done():
            live = self._start()
        await live.started()
        self._spare = self._start()
        return live

    async def _url_server(self) -> _LiveServer:
        """The URL server's one connection, reset when it has executed anything (or, without a reset tool, as
        it is)."""
        live = next(iter(self._idle.values()), None)
        self._idle.clear()
        if live is None or live.task.done():
            live = self._start()
        await live.started()
        if live.executed:
            if self.server.reset:
                await self._call_on(live, self.server.reset, {})
            elif not self._warned_no_reset:
                self._warned_no_reset = True
                logger.warning(
                    "MCP server %s (%s) has no reset tool (reset=<tool> in its entry): episodes share its state",
                    self.server.name,
                    self.server.url,
                )
            live.executed = []
        return live

    async def _call_on(self, live: _LiveServer, name: str, arguments: dict[str, Any]) -> Any:
        return await live.run(lambda client: client.call_tool(name, arguments, read_timeout_seconds=self.call_timeout))

    async def _call(self, log: Sequence[LoggedCall], keys: Sequence[CallKey], name: str, arguments: dict) -> Any:
        wanted = list(keys[:-1])
        live = next((s for i, s in self._idle.items() if s.executed == wanted and not s.task.done()), None)
        if live is not None:
            del self._idle[id(live)]
        else:
            live = await self._fresh()
            for (earlier, earlier_arguments), key in zip(log, wanted, strict=True):  # bring it to the log's state
                await self._call_on(live, earlier, earlier_arguments)
                live.executed.append(key)
        try:
            result = await self._call_on(live, name, arguments)
        except BaseException:
            await live.close()
            raise
        live.executed.append(keys[-1])
        self._idle[id(live)] = live
        while len(self._idle) > self.max_idle:
            _, oldest = self._idle.popitem(last=False)
            await oldest.close()
        return result, (None if self.server.url else live.folder / "state")

    # -- what toolkits use ---------------------------------------------------------------------------------------

    def list_tools(self) -> list[Any]:
        """Every tool the server lists (all pages), from a fresh server."""

        async def listing() -> list[Any]:
            live = await self._fresh()
            try:
                return list(await live.run(lambda client: _all_tools(client)))
            finally:
                await live.close()

        return self._submit(listing(), self.start_timeout + self.call_timeout)

    def call(self, log: Sequence[LoggedCall], keys: Sequence[CallKey], name: str, arguments: dict[str, Any]) -> Any:
        """Execute ``name(**arguments)`` on a server whose state is what the calls of ``log`` (keyed ``keys``, one
        more key for this call) made of the seed; returns the SDK's ``CallToolResult`` and the folder the server
        ran in (None for an URL server)."""
        return self._submit(self._call(list(log), list(keys), name, arguments), self.start_timeout + self.call_timeout)

    def close(self) -> None:
        """Close every live server (their processes end, their state folders go) and stop the thread."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close_all() -> None:
            servers = [*self._idle.values(), *([self._spare] if self._spare else [])]
            self._idle.clear()
            self._spare = None
            await asyncio.gather(*(server.close() for server in servers), return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)


async def _all_tools(client: Any) -> list[Any]:
    tools, cursor = [], None
    for _ in range(1000):  # a server whose pages never end must not hang the pool
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            break
    return tools
