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

An URL server is one connection whose process Magnet does not own, and its calls are made one at a time: with a
``reset`` tool, it is reset (and the calls replayed) whenever a call's log is not what it has executed, and on
its first call, since whatever ran before left its state unknown; without one, its state carries over (logged
once). One server cannot serve several processes' episodes, so an URL entry is refused under ``--shard`` and Ray.

Every server the host starts is tracked until it is closed, whatever fails: ``close`` ends them all, cancels what
is left on the loop and closes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
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
# One tuple for Python 3.10, where asyncio's and concurrent.futures' timeouts are not yet the builtin one.
_TIMEOUTS = (TimeoutError, asyncio.TimeoutError, concurrent.futures.TimeoutError)


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
        # The calls this server has executed since its start (or its reset); None while unknown (an URL server
        # reached anew, whose state is whatever its earlier clients left).
        self.executed: list[CallKey] | None = None if server.url else []
        self.requests: asyncio.Queue = asyncio.Queue()
        self.in_flight: asyncio.Future | None = None
        self.cancelled = False
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
                    parameters = StdioServerParameters(
                        command=command, args=arguments, cwd=str(state), env=dict(os.environ)
                    )
                    transport = stdio_client(parameters, errlog=errlog)
                async with Client(transport) as client:
                    self.ready.set_result(client)
                    while (item := await self.requests.get()) is not None:
                        future, coroutine_of = item
                        self.in_flight = future
                        try:
                            result = await coroutine_of(client)
                        except Exception as error:  # the caller decides; this server goes on serving
                            if not future.done():
                                future.set_exception(error)
                        else:
                            if not future.done():
                                future.set_result(result)
                        self.in_flight = None
        except BaseException as error:
            if not self.ready.done() and isinstance(error, asyncio.CancelledError):
                self.ready.cancel()  # ended while starting (``started`` said why)
            elif not self.ready.done():
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
            closed = McpServerError(f"MCP server {self.server.name} closed")
            if self.in_flight is not None and not self.in_flight.done():  # the call it was serving when it ended
                self.in_flight.set_exception(closed)
            while not self.requests.empty():  # calls queued after the connection ended
                item = self.requests.get_nowait()
                if item is not None and not item[0].done():
                    item[0].set_exception(closed)

    async def started(self) -> Any:
        """The connection, once the server has started; a server that does not start in time is ended."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.ready), self.start_timeout)
        except _TIMEOUTS:
            self._cancel()
            where = " ".join(self.server.command) or self.server.url
            raise McpServerError(
                f"MCP server {self.server.name} ({where}) did not start within {self.start_timeout:g} s "
                "(timeout=<seconds> in its entry)"
            ) from None

    async def run(self, coroutine_of) -> Any:
        """Run ``coroutine_of(client)`` on this server's connection, in its task."""
        await self.started()
        if self.task.done():
            raise McpServerError(f"MCP server {self.server.name} has exited")
        future = asyncio.get_running_loop().create_future()
        self.requests.put_nowait((future, coroutine_of))
        return await future

    def _cancel(self) -> None:
        """Cancel the task once: the SDK shields the process's shutdown from one cancellation, not from two."""
        if not self.cancelled:
            self.cancelled = True
            self.task.cancel()

    async def close(self) -> None:
        """End the connection: the process is asked to exit, then killed (the SDK's shutdown: a few seconds at
        most), and its folder deleted."""
        self.requests.put_nowait(None)
        for _ in range(2):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.task), 15)
            if self.task.done():
                return
            self._cancel()


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
        Live servers kept for later calls (least recently used closed first); the entry's ``idle`` by default.
    call_timeout, start_timeout:
        Seconds a call, and a server's start, may take before it is an error; the entry's ``timeout`` by default.
    """

    def __init__(
        self,
        server: McpServer,
        *,
        max_idle: int | None = None,
        call_timeout: float | None = None,
        start_timeout: float | None = None,
    ):
        self.server = server
        self.max_idle = max_idle or server.idle
        self.call_timeout = call_timeout or server.timeout
        self.start_timeout = start_timeout or server.timeout
        self.servers_started = 0
        self._live: set[_LiveServer] = set()  # every server started and not yet closing
        self._closing: set[asyncio.Future] = set()  # servers being closed, in the background
        self._idle: OrderedDict[int, _LiveServer] = OrderedDict()
        self._spare: _LiveServer | None = None
        self._url_lock: asyncio.Lock | None = None
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
                self._url_lock = asyncio.Lock()  # bound to the loop at its first use there
            return self._loop

    def _submit(self, coroutine, budget: float, what: str) -> Any:
        """Run ``coroutine`` on the host's loop and wait for it: at most ``budget`` seconds once it runs (an URL
        server's calls wait their turn first). Whatever it raises is a ``McpServerError`` naming the entry."""

        async def bounded() -> Any:
            if self.server.url is None:
                return await asyncio.wait_for(coroutine, budget)
            assert self._url_lock is not None
            async with self._url_lock:  # one server's state: its calls one at a time
                return await asyncio.wait_for(coroutine, budget)

        future = asyncio.run_coroutine_threadsafe(bounded(), self._ensure_loop())
        try:
            return future.result()
        except McpServerError:
            raise
        except _TIMEOUTS:
            raise McpServerError(
                f"MCP server {self.server.name} ({self.server.entry}): {what} did not finish within {budget:g} s"
            ) from None
        except (asyncio.CancelledError, concurrent.futures.CancelledError):
            raise McpServerError(f"MCP server {self.server.name}: closed during {what}") from None
        except Exception as error:  # the SDK's errors (MCPError, a schema it cannot read) named by the entry
            raise McpServerError(
                f"MCP server {self.server.name} ({self.server.entry}): {what}: {type(error).__name__}: {_unwrap(error)}"
            ) from error

    # -- servers -----------------------------------------------------------------------------------------------

    def _start(self) -> _LiveServer:
        self.servers_started += 1
        live = _LiveServer(self.server, self.start_timeout)
        self._live.add(live)
        return live

    def _retire(self, live: _LiveServer) -> None:
        """Forget ``live`` and close it in the background (its process ends, its folder goes): no call waits for
        a process to stop, and ``close`` waits for every one still closing."""
        self._idle.pop(id(live), None)
        if self._spare is live:
            self._spare = None
        self._live.discard(live)
        closing = asyncio.ensure_future(live.close())
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _started(self, live: _LiveServer) -> _LiveServer:
        try:
            await live.started()
        except BaseException:
            self._retire(live)
            raise
        return live

    async def _fresh(self) -> _LiveServer:
        """A server that has executed nothing: the spare started ahead (then another spare), or a new one."""
        if self.server.url is not None:
            return await self._url_server(reset=True)
        live, self._spare = self._spare, None
        if live is None or live.task.done():
            if live is not None:
                self._retire(live)
            live = self._start()
        await self._started(live)
        self._spare = self._start()
        return live

    async def _url_server(self, *, reset: bool) -> _LiveServer:
        """The URL server's one connection; with ``reset``, put back to the start when it has executed anything,
        or when its state is unknown (without a reset tool it is taken as it is)."""
        live = next(iter(self._idle.values()), None)
        self._idle.clear()
        if live is not None and live.task.done():
            self._retire(live)
            live = None
        live = await self._started(live or self._start())
        if reset and live.executed != []:
            if self.server.reset:
                try:
                    result = await self._call_on(live, self.server.reset, {})
                except BaseException:
                    self._retire(live)
                    raise
                if getattr(result, "is_error", False):
                    self._retire(live)
                    text = " ".join(getattr(block, "text", "") or "" for block in result.content or [])
                    raise McpServerError(
                        f"MCP server {self.server.name} ({self.server.url}): its reset tool {self.server.reset!r} "
                        f"failed: {text or 'no message'}"
                    )
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
        """One call on ``live``. An error response of the server (an unknown tool, arguments it refuses) is the
        call's output, as a tool's own error is; no answer in time, or a lost connection, is a
        ``McpServerError``."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT, CallToolResult, TextContent

        try:
            return await live.run(
                lambda client: client.call_tool(name, arguments, read_timeout_seconds=self.call_timeout)
            )
        except MCPError as error:
            if error.code == REQUEST_TIMEOUT:
                raise McpServerError(
                    f"MCP server {self.server.name}: {name} did not answer within {self.call_timeout:g} s "
                    "(timeout=<seconds> in its entry)"
                ) from None
            if error.code == CONNECTION_CLOSED:
                raise McpServerError(f"MCP server {self.server.name}: the connection closed during {name}") from None
            text = f"MCP error {error.code}: {error.message}"
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)

    async def _call(self, log: Sequence[LoggedCall], keys: Sequence[CallKey], name: str, arguments: dict) -> Any:
        wanted = list(keys[:-1])
        live = next((s for s in self._idle.values() if s.executed == wanted and not s.task.done()), None)
        if live is not None:
            del self._idle[id(live)]
        else:
            live = await self._fresh()
        try:
            if live.executed != wanted:  # a fresh server: bring it to the log's state
                for (earlier, earlier_arguments), key in zip(log, wanted, strict=True):
                    await self._call_on(live, earlier, earlier_arguments)
                    live.executed.append(key)
            result = await self._call_on(live, name, arguments)
        except BaseException:
            self._retire(live)
            raise
        live.executed.append(keys[-1])
        self._idle[id(live)] = live
        while len(self._idle) > self.max_idle:
            _, oldest = self._idle.popitem(last=False)
            self._retire(oldest)
        return result, (None if self.server.url else live.folder / "state")

    # -- what toolkits use ---------------------------------------------------------------------------------------

    def list_tools(self) -> list[Any]:
        """Every tool the server lists (all pages), from a fresh server (an URL server as it is)."""

        async def listing() -> list[Any]:
            live = await (self._url_server(reset=False) if self.server.url else self._fresh())
            try:
                return list(await live.run(lambda client: _all_tools(client)))
            finally:
                self._retire(live)

        return self._submit(listing(), self.start_timeout + self.call_timeout, "listing its tools")

    def call(self, log: Sequence[LoggedCall], keys: Sequence[CallKey], name: str, arguments: dict[str, Any]) -> Any:
        """Execute ``name(**arguments)`` on a server whose state is what the calls of ``log`` (keyed ``keys``, one
        more key for this call) made of the seed; returns the SDK's ``CallToolResult`` and the folder the server
        ran in (None for an URL server). The time allowed is a start, a reset and every call replayed."""
        calls = len(log) + 1 + (1 if self.server.reset else 0)
        budget = self.start_timeout + calls * self.call_timeout
        what = f"{name} after {len(log)} calls" if log else name
        return self._submit(self._call(list(log), list(keys), name, arguments), budget, what)

    def close(self) -> None:
        """Close every live server (their processes end, their state folders go), cancel what is left on the
        loop, stop the thread and close the loop. A later call starts a new loop."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is None:
            return

        async def close_all() -> None:
            servers = list(self._live)
            self._live.clear()
            self._idle.clear()
            self._spare = None
            closing = [*self._closing, *(server.close() for server in servers)]
            await asyncio.gather(*closing, return_exceptions=True)
            rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in rest:
                task.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close_all(), loop).result(40)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
            if not self._thread.is_alive():
                loop.close()


async def _all_tools(client: Any) -> list[Any]:
    tools, cursor = [], None
    for _ in range(1000):  # a server whose pages never end must not hang the pool
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            break
    return tools
