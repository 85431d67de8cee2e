"""MCP servers as pools, against real servers from the package index (``conftest.py``): tools listed with their
schemas, calls executed by the server, a fresh server state for every episode, recorded outputs replayed with no
server, and what an entry or a server gets wrong said in one line."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mcp_types import CallToolResult, ImageContent, TextContent

from magnet.errors import ToolkitError
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment
from magnet.tools.mcp import (
    infer_schema,
    inline_refs,
    may_call_on_seed,
    mcp_toolkit_class,
    output_of,
    parsed_output,
    recorded_toolkit_class,
)
from magnet.tools.mcp_entry import parse_mcp_entry
from magnet.tools.mcp_host import McpHost
from magnet.tools.pool import pool_specs, pool_toolkits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# -- entries -------------------------------------------------------------------------------------------------------


def test_an_entry_names_its_command_seed_and_toolkit(tmp_path):
    server = parse_mcp_entry(f"mcp:seed={tmp_path};mcp-server-sqlite --db-path 'my shop.db'")
    assert server.command == ("mcp-server-sqlite", "--db-path", "my shop.db")
    assert server.name == "mcp-server-sqlite" and server.seed == tmp_path and server.url is None
    named = parse_mcp_entry("mcp:name=clock;env TZ=UTC /opt/bin/mcp-server-time")
    assert named.name == "clock"
    assert parse_mcp_entry("mcp:env TZ=UTC /opt/bin/mcp-server-time").name == "mcp-server-time"
    assert parse_mcp_entry("mcp:python -m my_server").name == "my_server"
    remote = parse_mcp_entry("mcp:reset=reset_all;http://127.0.0.1:8123/mcp")
    assert (
        remote.url == "http://127.0.0.1:8123/mcp"
        and remote.reset == "reset_all"
        and remote.name == "mcp-127.0.0.1-8123"
    )


def test_the_identity_follows_the_seed_s_files(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    before = parse_mcp_entry(f"mcp:seed={tmp_path};server").identity
    assert parse_mcp_entry(f"mcp:seed={tmp_path};server").identity == before
    (tmp_path / "a.txt").write_text("two")
    assert parse_mcp_entry(f"mcp:seed={tmp_path};server").identity != before
    assert parse_mcp_entry("mcp:server --other").identity != parse_mcp_entry("mcp:server").identity


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("mcp:", "no command line or URL"),
        ("mcp:colour=red;server", "unknown option 'colour'"),
        ("mcp:seed=/no/such/folder;server", "is not a folder"),
        ("mcp:reset=reset;server", "reset is for an URL server"),
        ("mcp:name=a b;server", "toolkit name"),
        ("mcp:server 'unclosed", "cannot split the command line"),
        ("mcp:idle=0;server", "idle='0' must be a number of at least 1"),
        ("mcp:timeout=soon;server", "timeout='soon' must be a number"),
    ],
)
def test_a_malformed_entry_is_one_error_naming_it(entry, message):
    with pytest.raises(ToolkitError, match=message) as caught:
        parse_mcp_entry(entry)
    assert entry in str(caught.value)


def test_idle_and_timeout_are_options_and_a_relative_script_is_resolved_where_the_entry_is_read(tmp_path, monkeypatch):
    (tmp_path / "servers").mkdir()
    (tmp_path / "servers" / "shop.py").write_text("")
    monkeypatch.chdir(tmp_path)
    server = parse_mcp_entry("mcp:idle=64;timeout=2.5;python servers/shop.py --db shop.db")
    assert (server.idle, server.timeout, server.name) == (64, 2.5, "shop")
    # the server runs in its seed's copy: the script is found from here, the data file (no script) is not touched
    assert server.command == ("python", str(tmp_path / "servers" / "shop.py"), "--db", "shop.db")
    again = parse_mcp_entry(server.to_entry())
    assert (again.command, again.idle, again.timeout, again.name) == (server.command, 64, 2.5, "shop")
    assert parse_mcp_entry("mcp:server").idle == 16 and McpHost(parse_mcp_entry("mcp:server")).max_idle == 16


def test_a_seed_for_an_url_server_is_refused(tmp_path):
    with pytest.raises(ToolkitError, match="keeps its own state"):
        parse_mcp_entry(f"mcp:seed={tmp_path};http://127.0.0.1:1/mcp")


# -- outputs -------------------------------------------------------------------------------------------------------


def test_outputs_keep_the_server_s_text_its_structure_and_its_errors():
    text = CallToolResult(content=[TextContent(type="text", text="[{'id': 1, 'name': 'x'}]")])
    assert output_of(text) == "[{'id': 1, 'name': 'x'}]"
    structured = CallToolResult(content=[TextContent(type="text", text="{}")], structured_content={"a": 1})
    assert output_of(structured) == {"a": 1}
    failed = CallToolResult(content=[TextContent(type="text", text="no such table")], is_error=True)
    assert output_of(failed) == {"error": "no such table"}
    image = CallToolResult(content=[ImageContent(type="image", data="AAAA", mime_type="image/png")])
    assert output_of(image) == "[image content]"


def test_printed_rows_are_read_as_values_and_their_shape_inferred():
    rows = parsed_output("[{'id': 1, 'name': 'x', 'score': 0.5, 'ok': True}]")
    assert rows == [{"id": 1, "name": "x", "score": 0.5, "ok": True}]
    assert parsed_output('{"a": [1]}') == {"a": [1]}
    assert parsed_output("__import__('os').system('true')") == "__import__('os').system('true')"  # never run
    assert infer_schema(rows) == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "score": {"type": "number"},
                "ok": {"type": "boolean"},
            },
        },
    }
    merged = infer_schema([{"a": 1}, {"b": "x"}])
    assert merged["items"]["properties"] == {"a": {"type": "integer"}, "b": {"type": "string"}}


def test_references_are_inlined_and_a_recursive_one_ends_as_an_object():
    schema = {
        "type": "object",
        "properties": {
            "tree": {"$ref": "#/$defs/Node", "description": "the root"},
            "definitions": {"type": "string"},  # a field of that name is a field, not the definitions
        },
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "label": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                },
            }
        },
    }
    assert inline_refs(schema) == {
        "type": "object",
        "properties": {
            "tree": {
                "type": "object",
                "properties": {"label": {"type": "string"}, "children": {"type": "array", "items": {"type": "object"}}},
                "description": "the root",
            },
            "definitions": {"type": "string"},
        },
    }


# -- real servers --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(sqlite_server, shop_seed):
    klass = mcp_toolkit_class(f"mcp:name=shop;seed={shop_seed};{sqlite_server} --db-path shop.db")
    yield klass
    klass.close_servers()


def test_the_sqlite_server_s_tools_are_listed_with_their_schemas(shop):
    specs = {spec.name: spec for spec in shop.specs()}
    assert set(specs) == {
        "read_query",
        "write_query",
        "create_table",
        "list_tables",
        "describe_table",
        "append_insight",
    }
    assert specs["describe_table"].required == ("table_name",)
    assert all(spec.toolkit == "shop" for spec in specs.values())
    # No output schemas from this server: list_tables takes no argument, so its output on the seed gave one.
    assert specs["list_tables"].response == {
        "type": "array",
        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
    }
    assert specs["read_query"].response is None


def test_calls_run_on_the_server_and_every_episode_starts_from_the_seed(shop, shop_seed):
    first, second = Environment([shop()]), Environment([shop()])
    insert = FunctionCall("write_query", {"query": "INSERT INTO customers (name, email) VALUES ('Linus', 'l@x.org')"})
    count = FunctionCall("read_query", {"query": "SELECT COUNT(*) AS n FROM customers"})
    assert first.execute_one(insert).output == "[{'affected_rows': 1}]"
    assert first.execute_one(count).output == "[{'n': 3}]"
    assert second.execute_one(count).output == "[{'n': 2}]"  # another episode: the seed, not the first's rows
    with sqlite3.connect(shop_seed / "shop.db") as db:  # the seed itself is never written
        assert db.execute("SELECT COUNT(*) FROM customers").fetchone() == (2,)
    db.close()
    missing = first.execute_one(FunctionCall("describe_table", {}))
    assert not missing.ok and "table_name" in missing.error


def test_a_restored_snapshot_is_the_server_s_state_again(shop):
    env = Environment([shop()])
    env.execute_one(FunctionCall("write_query", {"query": "DELETE FROM orders WHERE id = 10"}))
    snapshot = env.snapshot()
    env.execute_one(FunctionCall("write_query", {"query": "DELETE FROM orders"}))
    orders = FunctionCall("read_query", {"query": "SELECT id FROM orders ORDER BY id"})
    assert env.execute_one(orders).output == "[]"
    env.restore(snapshot)
    assert env.execute_one(orders).output == "[{'id': 11}]"
    assert env.state()["shop"]["calls"][-1] == ["read_query", {"query": "SELECT id FROM orders ORDER BY id"}]


class _Store(dict):
    def get(self, key):  # the RequestCache interface
        return super().get(key)

    def put(self, key, answer, *, model, step):
        self[key] = dict(answer)


def test_recorded_outputs_replay_with_no_server_and_an_unrecorded_call_says_so(shop):
    store = _Store()
    shop.use_store(store)
    try:
        calls = [
            FunctionCall("list_tables", {}),
            FunctionCall("read_query", {"query": "SELECT name FROM customers WHERE id = 2"}),
        ]
        live = [result.output for result in Environment([shop()]).execute(calls)]
    finally:
        shop.use_store(None)
    assert live == ["[{'name': 'customers'}, {'name': 'orders'}]", "[{'name': 'Grace'}]"]
    offline = recorded_toolkit_class(shop.mcp_server, shop.specs(), store)
    assert shop.blocking and not offline.blocking  # only a live server is waited on off the event loop
    assert offline.mcp_host is None
    assert [result.output for result in Environment([offline()]).execute(calls)] == live
    other = Environment([offline()]).execute_one(FunctionCall("read_query", {"query": "SELECT 1"}))
    assert not other.ok and "has no live server" in other.error


def test_the_git_server_works_on_a_fresh_copy_of_its_repository(git_server, repo_seed):
    git = mcp_toolkit_class(f"mcp:seed={repo_seed};{git_server} --repository .")
    try:
        assert git.toolkit_name() == "mcp-server-git"
        assert {"git_status", "git_log", "git_diff_unstaged", "git_commit"} <= set(git.function_names())
        env = Environment([git()])
        status = env.execute_one(FunctionCall("git_status", {"repo_path": "."}))
        assert status.ok and "modified:   README.md" in status.output
        log = env.execute_one(FunctionCall("git_log", {"repo_path": "."}))
        assert "First commit" in log.content
        added = env.execute_one(FunctionCall("git_add", {"repo_path": ".", "files": ["README.md"]}))
        assert added.ok
        assert "Changes to be committed" in env.execute_one(status.call).output
        elsewhere = env.execute_one(FunctionCall("git_log", {"repo_path": "elsewhere"}))
        assert not elsewhere.ok and "./elsewhere" in elsewhere.error  # the server's folder, named as it names it
        assert "magnet-mcp-" not in elsewhere.content
        fresh = Environment([git()]).execute_one(FunctionCall("git_diff_staged", {"repo_path": "."}))
        assert "Orders and customers" not in fresh.output  # a new episode: nothing staged there
    finally:
        git.close_servers()
    assert (repo_seed / "README.md").read_text().endswith("Orders and customers.\n")


def test_the_time_server_s_output_schema_is_the_response(time_server):
    clock = mcp_toolkit_class(f"mcp:name=clock;{time_server} --local-timezone UTC")
    try:
        convert = {spec.name: spec for spec in clock.specs()}["convert_time"]
        assert {"source", "target", "time_difference"} <= set(convert.response["properties"])
        result = Environment([clock()]).execute_one(
            FunctionCall("convert_time", {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"})
        )
        assert result.output["target"]["datetime"].endswith("T21:00:00+09:00")
        assert json.loads(result.content) == result.output
    finally:
        clock.close_servers()


def test_a_server_that_does_not_start_names_itself_and_its_stderr(tmp_path):
    script = tmp_path / "broken_server.py"
    script.write_text("import sys\nprint('cannot open the database', file=sys.stderr)\nsys.exit(3)\n")
    with pytest.raises(ToolkitError, match="did not start") as caught:
        mcp_toolkit_class(f"mcp:name=broken;{sys.executable} {script}")
    assert "broken" in str(caught.value) and "cannot open the database" in str(caught.value)


def _processes_running(script: Path) -> list[int]:
    """The processes whose command line names ``script`` (read from /proc: no extra package)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(script).encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_a_slow_start_a_slow_call_and_an_error_response_each_say_what_happened_and_leave_no_process():
    script = FIXTURES / "mcp_slow_server.py"
    started = time.monotonic()
    with pytest.raises(ToolkitError, match=r"did not start within 1 s \(timeout=<seconds> in its entry\)"):
        mcp_toolkit_class(f"mcp:name=late;timeout=1;{sys.executable} {script} --slow-start")
    assert time.monotonic() - started < 15 and not _processes_running(script)  # killed, not waited for

    slow = mcp_toolkit_class(f"mcp:name=slow;timeout=1;{sys.executable} {script}")
    try:
        episode = Environment([slow()])
        napping = episode.execute_one(FunctionCall("nap", {"seconds": 5}))
        assert not napping.ok and "nap did not answer within 1 s" in napping.error
        # a JSON-RPC error response is the call's output, as a tool's own error is; the server serves on
        refused = episode.execute_one(FunctionCall("refuse", {}))
        assert refused.output == {"error": "MCP error -32602: refused by protocol"}
        assert episode.execute_one(FunctionCall("ping", {})).output == {"result": "pong"}
        for _ in range(20):  # more episodes in flight than idle servers kept: the oldest are closed
            Environment([slow()]).execute_one(FunctionCall("nap", {"seconds": 0}))
        assert len(slow.mcp_host._live) <= slow.mcp_host.max_idle + 1  # the idle ones and the spare
    finally:
        slow.close_servers()
    assert not slow.mcp_host._live and not _processes_running(script)


def test_a_stdio_server_gets_magnet_s_environment(monkeypatch):
    monkeypatch.setenv("MAGNET_TEST_TOKEN", "s3cret")
    slow = mcp_toolkit_class(f"mcp:name=slow;{sys.executable} {FIXTURES / 'mcp_slow_server.py'}")
    try:
        call = FunctionCall("environment_value", {"name": "MAGNET_TEST_TOKEN"})
        assert Environment([slow()]).execute_one(call).output == {"result": "s3cret"}
    finally:
        slow.close_servers()


def test_only_calls_that_can_do_no_harm_infer_a_schema():
    def tool(**hints):
        return SimpleNamespace(annotations=SimpleNamespace(**hints) if hints else None)

    stdio, url = parse_mcp_entry("mcp:server"), parse_mcp_entry("mcp:http://127.0.0.1:1/mcp")
    reset = parse_mcp_entry("mcp:reset=clear;http://127.0.0.1:1/mcp")
    assert may_call_on_seed(tool(), stdio)  # a copy of the seed: writes are harmless
    assert not may_call_on_seed(tool(open_world_hint=True), stdio)  # it reaches outside: not called
    assert may_call_on_seed(tool(open_world_hint=True, read_only_hint=True), stdio)
    assert not may_call_on_seed(tool(), url)  # someone else's state, no reset: only a tool that only reads
    assert may_call_on_seed(tool(read_only_hint=True), url)
    assert may_call_on_seed(tool(), reset) and not may_call_on_seed(tool(destructive_hint=True), reset)


def test_mcp_entries_join_a_pool_beside_builtin(time_server):
    entry = f"mcp:name=clock;{time_server} --local-timezone UTC"
    classes = pool_toolkits(["builtin", entry])
    try:
        assert classes[-1].toolkit_name() == "clock" and len(classes) == 12
        names = {spec.name for spec in pool_specs(["builtin", entry], toolkits=classes)}
        assert {"get_current_time", "convert_time", "create_event"} <= names
    finally:
        classes[-1].close_servers()


# -- an URL server (Streamable HTTP), whose process Magnet does not own ----------------------------------------------


@pytest.fixture
def notes_url(tmp_path):
    """``tests/fixtures/mcp_notes_server.py`` on a free port of 127.0.0.1, for one test."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = FIXTURES / "mcp_notes_server.py"
    log = (tmp_path / "notes.log").open("w")
    process = subprocess.Popen([sys.executable, str(script), str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the notes server did not start: {(tmp_path / 'notes.log').read_text()}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_an_url_server_is_reset_for_every_episode_and_its_reset_is_no_function(notes_url):
    notes = mcp_toolkit_class(f"mcp:name=notes;reset=reset_notes;{notes_url}")
    try:
        assert notes.function_names() == ["add_note", "get_note", "list_notes"]  # reset_notes is Magnet's
        add = {spec.name: spec for spec in notes.specs()}["add_note"]
        assert add.response["properties"].keys() == {"note_id", "text"}  # the server's output schema
        listing_spec = {spec.name: spec for spec in notes.specs()}["list_notes"]  # pydantic's $defs, inlined
        assert listing_spec.response["properties"]["notes"]["items"]["properties"].keys() == {"note_id", "text"}
        assert "$ref" not in json.dumps(listing_spec.response)
        first = Environment([notes()])
        assert first.execute_one(FunctionCall("add_note", {"text": "buy milk"})).output == {
            "note_id": 1,
            "text": "buy milk",
        }
        assert first.execute_one(FunctionCall("get_note", {"note_id": 1})).output["text"] == "buy milk"
        listing = FunctionCall("list_notes", {})
        assert Environment([notes()]).execute_one(listing).output == {"notes": []}  # reset: a fresh episode
        # the first episode again: its note is there again (reset, then its calls replayed)
        assert first.execute_one(listing).output == {"notes": [{"note_id": 1, "text": "buy milk"}]}
        failed = first.execute_one(FunctionCall("get_note", {"note_id": 7}))
        assert not failed.ok and "no note 7" in failed.error
    finally:
        notes.close_servers()


def test_an_url_server_without_a_reset_shares_its_state_and_says_so(notes_url, caplog):
    notes = mcp_toolkit_class(f"mcp:name=notes;{notes_url}")
    try:
        assert "reset_notes" in notes.function_names()
        Environment([notes()]).execute_one(FunctionCall("add_note", {"text": "kept"}))
        with caplog.at_level("WARNING", logger="magnet.tools.mcp_host"):
            second = Environment([notes()]).execute_one(FunctionCall("list_notes", {}))
        assert second.output == {"notes": [{"note_id": 1, "text": "kept"}]}
        assert "has no reset tool" in caplog.text
    finally:
        notes.close_servers()


def test_an_url_server_left_in_any_state_is_reset_before_its_first_episode(notes_url):
    before = mcp_toolkit_class(f"mcp:name=notes;{notes_url}")  # another client leaves a note behind
    try:
        Environment([before()]).execute_one(FunctionCall("add_note", {"text": "left behind"}))
    finally:
        before.close_servers()
    notes = mcp_toolkit_class(f"mcp:name=notes;reset=reset_notes;{notes_url}")
    try:
        assert Environment([notes()]).execute_one(FunctionCall("list_notes", {})).output == {"notes": []}
    finally:
        notes.close_servers()


def test_a_reset_tool_the_server_does_not_have_is_refused(notes_url):
    with pytest.raises(ToolkitError, match="reset tool 'clear' is not among its tools"):
        mcp_toolkit_class(f"mcp:reset=clear;{notes_url}")


def test_magnet_pool_and_call_list_and_run_an_mcp_server(time_server, capsys):
    from magnet.cli import main

    entry = f"mcp:name=clock;{time_server} --local-timezone UTC"
    assert main(["pool", "--pool", entry]) == 0
    listing = capsys.readouterr().out
    assert "clock" in listing and "convert_time" in listing and "output schema" in listing
    call = "[convert_time(source_timezone='UTC', time='08:30', target_timezone='Europe/Lisbon')]"
    assert main(["call", "--pool", entry, call]) == 0
    assert '"time_difference": "+0.0h"' in capsys.readouterr().out
    assert main(["pool", "--pool", entry, "--bfcl"]) != 0
    assert "give --bfcl or --pool, not both" in capsys.readouterr().err
