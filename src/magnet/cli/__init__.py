"""The ``magnet`` command.

A module per command group: ``pool`` (the function pool: ``pool``, ``specs``, ``call``), ``synthesis`` (``synth`` and
its stages one at a time: ``label``, ``graph``, ``paths``, ``translate``, ``show``; ``cache``), ``models``
(``tiny-model``, ``models``, ``estimate-memory``), ``evaluate`` (``eval bfcl``) and ``reports`` (``stats``,
``summary``, ``config-reference``). Each command parses its flags, calls one library function and prints; the
flags of every setting are generated from the settings dataclasses (``magnet.settings``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence

from magnet.cli import evaluate, models, pool, reports, synthesis
from magnet.errors import EndpointRefused, MagnetError

COMMAND_GROUPS = (pool, synthesis, reports, models, evaluate)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``magnet`` command."""
    parser = argparse.ArgumentParser(prog="magnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def _stdout_closed() -> bool:
    """Whether stdout's reader has gone (the write end of a pipe without readers polls as an error); if so, stdout
    is pointed at /dev/null so that the flush at exit stays quiet."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):  # no poll (Windows) or no real stdout (a notebook)
        return False
    if closed:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return closed


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn a ``MagnetError`` into a message and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except (MagnetError, EndpointRefused) as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError as error:
        if _stdout_closed():  # `magnet pool | head`: the reader left; stop quietly, as shell tools do
            return 141
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
