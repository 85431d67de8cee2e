"""The ``magnet`` command.

Sub-commands so far: ``pool`` (what the function pool holds and how its functions chain), ``specs`` (write the
pool's specs as OpenAI tools JSON) and ``call`` (execute calls in BFCL's text form against the pool). The
synthesis, training and evaluation sub-commands join as their stages land.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from magnet.errors import MagnetError
from magnet.tools.calls import parse_calls
from magnet.tools.executor import Environment
from magnet.tools.pool import ChainPair, chaining_pairs, pool_stats
from magnet.tools.spec import save_specs
from magnet.tools.toolkit import Toolkit


def _toolkit_classes(args: argparse.Namespace) -> list[type[Toolkit]]:
    if args.bfcl:
        from magnet.tools.bfcl import bfcl_toolkits

        classes: list[type[Toolkit]] = list(bfcl_toolkits())
    else:
        from magnet.tools.builtin import BUILTIN_TOOLKITS

        classes = list(BUILTIN_TOOLKITS)
    if getattr(args, "toolkits", None):
        wanted = [name.strip() for name in args.toolkits.split(",") if name.strip()]
        by_name = {klass.toolkit_name(): klass for klass in classes}
        unknown = [name for name in wanted if name not in by_name]
        if unknown:
            raise MagnetError(f"--toolkits: unknown toolkit(s) {unknown}; the pool has {sorted(by_name)}")
        classes = [by_name[name] for name in wanted]
    return classes


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    line = lambda cells: "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * width for width in widths]), *(line(row) for row in rows)])


def cmd_pool(args: argparse.Namespace) -> int:
    """Print the pool's toolkits, function counts and chaining statistics."""
    classes = _toolkit_classes(args)
    stats = pool_stats(classes)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
        return 0
    pool_name = "BFCL evaluation pool" if args.bfcl else "builtin training pool"
    rows = [(k.toolkit_name(), k.category, k.tool_class, len(k.function_names())) for k in classes]
    print(f"# {pool_name}\n")
    print(_table(["toolkit", "category", "tool class", "functions"], rows))
    print(f"\ntoolkits: {stats.toolkits}   functions: {stats.functions}   categories: {len(stats.categories)}")
    print(
        f"chaining pairs (output field -> parameter, by name and type): {stats.chaining_pairs} "
        f"over {stats.chaining_function_pairs} function pairs, {stats.cross_toolkit_pairs} across toolkits"
    )
    print(
        f"  through identifiers (*_id, email): {stats.identifier_function_pairs} function pairs, "
        f"{stats.identifier_cross_toolkit_pairs} across toolkits"
    )
    print(
        f"functions with a successor: {stats.functions_with_successor}/{stats.functions}; "
        f"with a predecessor: {stats.functions_with_predecessor}/{stats.functions}"
    )
    if args.examples:
        specs = [spec for klass in classes for spec in klass.specs()]
        owner = {spec.name: spec.toolkit for spec in specs}
        # One example per (source toolkit, target toolkit), identifier chains only: the informative ones.
        examples: dict[tuple[str | None, str | None], ChainPair] = {}
        for pair in chaining_pairs(specs):
            key = (owner[pair.source], owner[pair.target])
            if pair.through_identifier and key[0] != key[1]:
                examples.setdefault(key, pair)
        print(f"\nexamples of cross-toolkit chains through identifiers (first {args.examples}):")
        if not examples:
            print("  (none)")
        for pair in list(examples.values())[: args.examples]:
            print(
                f"  {owner[pair.source]}.{pair.source} -> {pair.field} -> "
                f"{owner[pair.target]}.{pair.target}({pair.parameter}=...)"
            )
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    """Write the pool's specs (OpenAI tools plus Magnet's response/category/tool_class) to a JSON file."""
    specs = [spec for klass in _toolkit_classes(args) for spec in klass.specs()]
    save_specs(specs, args.out)
    print(f"wrote {len(specs)} specs to {args.out}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    """Execute calls (BFCL text form) against fresh toolkit instances and print each result."""
    classes = _toolkit_classes(args)
    state = json.loads(Path(args.state).read_text()) if args.state else None
    env = Environment.from_state(classes, state, time_limit=args.time_limit)
    calls = parse_calls(args.calls, parameter_order=env.parameter_order())
    results = env.execute(calls)
    for result in results:
        mark = "ok " if result.ok else "ERR"
        print(f"{mark} {result.call.to_text()}\n    -> {result.content}")
    if args.final_state:
        print(json.dumps(env.state(), indent=2))
    return 0 if all(result.ok for result in results) or args.allow_errors else 1


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``magnet`` command."""
    parser = argparse.ArgumentParser(prog="magnet", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True)

    def pool_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--bfcl", action="store_true", help="use BFCL's eight classes (the evaluation pool)")
        sub.add_argument("--toolkits", help="comma-separated toolkit names (default: the whole pool)")

    pool = commands.add_parser("pool", help="show the function pool and how its functions chain")
    pool_options(pool)
    pool.add_argument("--json", action="store_true", help="print the statistics as JSON")
    pool.add_argument("--examples", type=int, default=8, help="how many cross-toolkit chains to show")
    pool.set_defaults(run=cmd_pool)

    specs = commands.add_parser("specs", help="write the pool's function specs as OpenAI tools JSON")
    pool_options(specs)
    specs.add_argument("--out", required=True, help="output JSON file")
    specs.set_defaults(run=cmd_specs)

    call = commands.add_parser("call", help="execute calls like \"[f(a=1), g(b='x')]\" against the pool")
    pool_options(call)
    call.add_argument("calls", help="calls in BFCL's text form")
    call.add_argument("--state", help="JSON file {toolkit: state} to start from (default: default states)")
    call.add_argument("--time-limit", type=float, default=10.0, help="seconds one call may run")
    call.add_argument("--final-state", action="store_true", help="print the state after the calls")
    call.add_argument("--allow-errors", action="store_true", help="exit 0 even when a call returns an error")
    call.set_defaults(run=cmd_call)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse, run, and turn a ``MagnetError`` into a message and exit status 2."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return args.run(args)
    except MagnetError as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2
    except (OSError, json.JSONDecodeError) as error:
        print(f"magnet {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
