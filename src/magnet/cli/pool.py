"""``magnet pool``, ``specs`` and ``call``: what the function pool holds, its specs, and calls executed on it."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from magnet.cli.common import add_pool_flags, table, toolkit_classes
from magnet.tools.calls import parse_calls
from magnet.tools.executor import Environment
from magnet.tools.pool import cross_toolkit_examples, pool_stats
from magnet.tools.spec import save_specs


def cmd_pool(args: argparse.Namespace) -> int:
    """Print the pool's toolkits, function counts and chaining statistics."""
    classes = toolkit_classes(args)
    stats = pool_stats(classes)
    if args.json:
        print(json.dumps(stats.to_dict(), indent=2))
        return 0
    pool_name = (
        "BFCL evaluation pool"
        if args.bfcl
        else f"pool {', '.join(args.pool)}"
        if getattr(args, "pool", None)
        else "builtin training pool"
    )
    rows = [(k.toolkit_name(), k.category, k.tool_class, len(k.function_names())) for k in classes]
    print(f"# {pool_name}\n")
    print(table(["toolkit", "category", "tool class", "functions"], rows))
    servers = [klass for klass in classes if hasattr(klass, "mcp_server")]
    if servers:
        print(
            "\nMCP servers' tools (response: the server's output schema, one inferred from a call on the seed, or none)"
        )
        tools = [
            (klass.toolkit_name(), spec.name, ", ".join(spec.required) or "-", klass.response_source(spec.name))
            for klass in servers
            for spec in klass.specs()
        ]
        print(table(["toolkit", "tool", "required", "response"], tools))
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
        examples = cross_toolkit_examples(specs)
        print(f"\nexamples of cross-toolkit chains through identifiers (first {args.examples}):")
        if not examples:
            print("  (none)")
        for pair in examples[: args.examples]:
            print(
                f"  {owner[pair.source]}.{pair.source} -> {pair.field} -> "
                f"{owner[pair.target]}.{pair.target}({pair.parameter}=...)"
            )
    return 0


def cmd_specs(args: argparse.Namespace) -> int:
    """Write the pool's specs (OpenAI tools plus Magnet's response/category/tool_class) to a JSON file."""
    specs = [spec for klass in toolkit_classes(args) for spec in klass.specs()]
    save_specs(specs, args.out)
    print(f"wrote {len(specs)} specs to {args.out}")
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    """Execute calls (BFCL text form) against fresh toolkit instances and print each result."""
    classes = toolkit_classes(args)
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


def register(commands: argparse._SubParsersAction) -> None:
    """Add the pool commands."""
    pool = commands.add_parser("pool", help="show the function pool and how its functions chain")
    add_pool_flags(pool)
    pool.add_argument("--json", action="store_true", help="print the statistics as JSON")
    pool.add_argument("--examples", type=int, default=8, help="how many cross-toolkit chains to show")
    pool.set_defaults(run=cmd_pool)

    specs = commands.add_parser("specs", help="write the pool's function specs as OpenAI tools JSON")
    add_pool_flags(specs)
    specs.add_argument("--out", required=True, help="output JSON file")
    specs.set_defaults(run=cmd_specs)

    call = commands.add_parser("call", help="execute calls like \"[f(a=1), g(b='x')]\" against the pool")
    add_pool_flags(call)
    call.add_argument("calls", help="calls in BFCL's text form")
    call.add_argument("--state", help="JSON file {toolkit: state} to start from (default: default states)")
    call.add_argument("--time-limit", type=float, default=10.0, help="seconds one call may run")
    call.add_argument("--final-state", action="store_true", help="print the state after the calls")
    call.add_argument("--allow-errors", action="store_true", help="exit 0 even when a call returns an error")
    call.set_defaults(run=cmd_call)
