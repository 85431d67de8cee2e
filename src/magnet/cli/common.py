"""What the command groups share: the synthesis settings flags, the teacher they build, the pool options, tables."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from magnet.errors import MagnetError
from magnet.settings import add_settings_flags, flag_values, read_settings_file
from magnet.tools.toolkit import Toolkit

Result = TypeVar("Result")

CACHE_FOLDER = ".magnet"
"""Where the commands that ask a model one step at a time keep their request cache (``magnet synth``: its out)."""


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Rows as aligned plain-text columns under a header line."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    line = lambda cells: "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def add_synth_config_flag(parser: argparse.ArgumentParser) -> None:
    """``--config``: a synth YAML whose settings the command reads (its flags override them)."""
    parser.add_argument(
        "--config", help="a synth YAML (recipes/synth/*.yaml) to read settings from; flags given here win"
    )


def add_teacher_flags(parser: argparse.ArgumentParser) -> None:
    """The teacher's settings as flags: ``--teacher.model`` and the short ``--model`` (``TeacherSettings``)."""
    from magnet.synthesis.config import SynthConfig

    group = parser.add_argument_group("teacher (the teacher section of a synth config)")
    add_settings_flags(group, SynthConfig, aliases=True, only=["teacher"])


def synth_config(args: argparse.Namespace):
    """The ``SynthConfig`` a stage command's ``--config`` file and flags describe."""
    from magnet.synthesis.config import load_config

    return load_config(getattr(args, "config", None), values=flag_values(args), values_where="--")


def command_teacher(args: argparse.Namespace, config: Any = None):
    """The teacher a stage command's settings describe (the offline backend included), its cache in
    ``.magnet/`` unless ``--cache`` names one."""
    from magnet.llm.usage import UsageTracker
    from magnet.synthesis.synth import synthesis_teacher

    config = config or synth_config(args)
    return synthesis_teacher(config.teacher, Path(CACHE_FOLDER), UsageTracker())


def run_closing(teacher: Any, work: Awaitable[Result]) -> Result:
    """Run ``work`` to the end, then close the teacher's connections."""

    async def run() -> Result:
        try:
            return await work
        finally:
            if hasattr(teacher, "aclose"):
                await teacher.aclose()

    return asyncio.run(run())


def add_pool_flags(parser: argparse.ArgumentParser) -> None:
    """``--bfcl``, ``--pool`` and ``--toolkits``: the pool of the commands that inspect or execute it."""
    parser.add_argument("--bfcl", action="store_true", help="use BFCL's eight classes (the evaluation pool)")
    parser.add_argument(
        "--pool",
        action="append",
        metavar="ENTRY",
        help="a pool entry with executable toolkits, as in a synth config: builtin, package.module:ClassName, "
        "path/to/file.py:ClassName or mcp:<command line or URL> (repeat the flag for more; default: builtin)",
    )
    parser.add_argument("--toolkits", help="comma-separated toolkit names (default: the whole pool)")


def toolkit_classes(args: argparse.Namespace) -> list[type[Toolkit]]:
    """The toolkit classes ``--bfcl``, ``--pool`` and ``--toolkits`` choose."""
    if args.bfcl and getattr(args, "pool", None):
        raise MagnetError("give --bfcl or --pool, not both")
    if args.bfcl:  # to inspect or execute, not to train on: no contamination check
        from magnet.tools.bfcl import bfcl_toolkits

        classes: list[type[Toolkit]] = list(bfcl_toolkits())
    elif getattr(args, "pool", None):
        from magnet.tools.pool import pool_toolkits

        classes = pool_toolkits(args.pool)
    else:
        from magnet.tools.builtin import BUILTIN_TOOLKITS

        classes = list(BUILTIN_TOOLKITS)
    if not args.toolkits:
        return classes
    wanted = [name.strip() for name in args.toolkits.split(",") if name.strip()]
    by_name = {klass.toolkit_name(): klass for klass in classes}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise MagnetError(f"--toolkits: unknown toolkit(s) {unknown}; the pool has {sorted(by_name)}")
    return [by_name[name] for name in wanted]


def read_yaml(path: str, flag: str) -> dict[str, Any]:
    """A YAML mapping named by ``flag``."""
    try:
        return read_settings_file(path, "file")
    except MagnetError as error:
        raise MagnetError(f"{flag} {error}") from None
