"""What a pool entry ``mcp:...`` names: an MCP server to start (a command line, spoken to over stdio) or to reach
(an URL, Streamable HTTP), where its state comes from, and what the pool calls it.

    mcp:mcp-server-time --local-timezone UTC
    mcp:seed=data/shop;mcp-server-sqlite --db-path shop.db
    mcp:name=repo;seed=tests/repo;mcp-server-git --repository .
    mcp:reset=reset_all;http://127.0.0.1:8000/mcp
    mcp:idle=64;timeout=120;seed=data/shop;python servers/shop.py

Options come first, each ``key=value;``: ``name`` (the toolkit's name in the pool and in datasets; by default
the program's name), ``seed`` (a folder copied fresh for every episode: a stdio server runs with that copy as its
working folder, so its command line names its data by relative paths; without a seed the folder starts empty),
``reset`` (for an URL server, whose process Magnet does not own: a tool of the server that puts its state back to
the start, called before every episode), ``idle`` (live servers kept for later calls, 16 by default: give at
least the run's concurrency, or episodes in flight replay their calls on new servers) and ``timeout`` (seconds a
call, or a server's start, may take; 60 by default).

A stdio server gets Magnet's environment (API keys included). Its working folder is the seed's copy, so a script
the command names by a relative path (``servers/shop.py``) is resolved where the entry is read.
"""

from __future__ import annotations

import functools
import hashlib
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from magnet.errors import ToolkitError

PREFIX = "mcp:"
OPTIONS = ("name", "seed", "reset", "idle", "timeout")
DEFAULT_IDLE = 16
DEFAULT_TIMEOUT = 60.0
_SCRIPT_SUFFIXES = (".py", ".js", ".mjs", ".cjs", ".ts")
_OPTION = re.compile(r"^([A-Za-z_]+)=([^;]*);")


@dataclass(frozen=True)
class McpServer:
    """One MCP server of a pool, as its ``mcp:`` entry describes it."""

    entry: str
    name: str
    command: tuple[str, ...] = ()
    url: str | None = None
    seed: Path | None = None
    reset: str | None = None
    idle: int = field(default=DEFAULT_IDLE, compare=False)
    timeout: float = field(default=DEFAULT_TIMEOUT, compare=False)

    def to_entry(self) -> str:
        """The entry again, every option written out (the seed and scripts as absolute paths)."""
        options = f"name={self.name};" + (f"seed={self.seed};" if self.seed else "")
        options += f"reset={self.reset};" if self.reset else ""
        options += f"idle={self.idle};" if self.idle != DEFAULT_IDLE else ""
        options += f"timeout={self.timeout:g};" if self.timeout != DEFAULT_TIMEOUT else ""
        return PREFIX + options + (self.url or shlex.join(self.command))

    @functools.cached_property
    def identity(self) -> str:
        """What decides a call's output besides the calls before it: the command line or URL and the seed's
        files. Recorded outputs are keyed by it, so an edited seed or another server never reuses them. Read once
        (every recorded output is keyed by it): a seed edited during a run is seen by the next run."""
        digest = hashlib.sha256(repr((self.command, self.url, self.reset)).encode())
        if self.seed is not None:
            for path in sorted(self.seed.rglob("*")):
                if path.is_file():
                    digest.update(str(path.relative_to(self.seed)).encode() + b"\0" + path.read_bytes())
        return digest.hexdigest()[:24]


def is_mcp_entry(entry: str) -> bool:
    """Whether a pool entry names an MCP server."""
    return entry.strip().startswith(PREFIX)


def _default_name(command: tuple[str, ...], url: str | None) -> str:
    if url is not None:
        parsed = urlparse(url)
        return f"mcp-{parsed.hostname or 'server'}" + (f"-{parsed.port}" if parsed.port else "")
    words = [word for word in command if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", word)]  # `env A=B prog`
    if words and Path(words[0]).name == "env":
        words = words[1:]
    program = Path(words[0]).name if words else "server"
    if program in ("python", "python3", "uv", "uvx", "npx", "node") and len(words) > 1:
        program = next((Path(w).name for w in words[1:] if not w.startswith("-") and w != "run"), program)
    return program.removesuffix(".py")


def parse_mcp_entry(entry: str) -> McpServer:
    """The server an ``mcp:`` pool entry names; a malformed entry is a ``ToolkitError`` naming it and the fix."""
    text = entry.strip()
    if not text.startswith(PREFIX):
        raise ToolkitError(f"pool entry {entry!r}: an MCP server entry starts with {PREFIX!r}")
    rest = text[len(PREFIX) :].strip()
    options: dict[str, str] = {}
    while match := _OPTION.match(rest):
        key, value = match.group(1), match.group(2).strip()
        if key not in OPTIONS:
            raise ToolkitError(f"pool entry {entry!r}: unknown option {key!r}; the options are {list(OPTIONS)}")
        options[key] = value
        rest = rest[match.end() :].strip()
    if not rest:
        raise ToolkitError(f"pool entry {entry!r}: no command line or URL after the options")
    url = rest if rest.startswith(("http://", "https://")) else None
    try:
        command = () if url else tuple(shlex.split(rest))
    except ValueError as error:
        raise ToolkitError(f"pool entry {entry!r}: cannot split the command line ({error})") from None
    seed = Path(options["seed"]).resolve() if options.get("seed") else None
    if seed is not None and not seed.is_dir():
        raise ToolkitError(f"pool entry {entry!r}: seed {options['seed']!r} is not a folder")
    if url and seed is not None:
        raise ToolkitError(
            f"pool entry {entry!r}: a seed folder is for a server Magnet starts; an URL server keeps its own state "
            "(give reset=<tool> for a tool that puts it back)"
        )
    if options.get("reset") and not url:
        raise ToolkitError(
            f"pool entry {entry!r}: reset is for an URL server; a server Magnet starts gets a fresh process and a "
            "fresh copy of its seed for every episode"
        )
    idle = _number(entry, options, "idle", int, DEFAULT_IDLE, minimum=1)
    timeout = _number(entry, options, "timeout", float, DEFAULT_TIMEOUT, minimum=0.001)
    name = options.get("name") or _default_name(command, url)
    command = tuple(_resolved_script(word) for word in command)
    if not re.match(r"^[A-Za-z0-9_.-]+$", name):
        raise ToolkitError(f"pool entry {entry!r}: toolkit name {name!r}: use letters, digits, '_', '-' and '.'")
    return McpServer(
        entry=text,
        name=name,
        command=command,
        url=url,
        seed=seed,
        reset=options.get("reset") or None,
        idle=idle,
        timeout=timeout,
    )


def _number(entry: str, options: dict[str, str], key: str, kind: type, default: float, *, minimum: float) -> Any:
    if not options.get(key):
        return default
    try:
        value = kind(options[key])
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ToolkitError(f"pool entry {entry!r}: {key}={options[key]!r} must be a number of at least {minimum:g}")
    return value


def _resolved_script(word: str) -> str:
    """A relative path to a script that exists here, made absolute: the server runs in its seed's copy."""
    path = Path(word)
    if not path.is_absolute() and path.suffix in _SCRIPT_SUFFIXES and path.is_file():
        return str(path.resolve())
    return word
