"""``magnet synth`` on real MCP servers (sqlite, git and time from the package index, ``tests/conftest.py``) with the
offline teacher: the servers execute every call, their processes end with the run, and every episode replays from
the recorded outputs with no server at all."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import datasets
import pytest

from magnet.data.schema import check_sft_rows
from magnet.llm.cache import RequestCache
from magnet.synthesis.config import load_config
from magnet.synthesis.episode import Episode, replay
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.pipeline import read_records
from magnet.synthesis.synth import Synth
from magnet.tools.mcp import recorded_toolkit_class
from magnet.tools.mcp_entry import parse_mcp_entry


def _processes_in(folder: Path) -> list[int]:
    """The processes whose working folder is inside ``folder`` (from /proc)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if Path(os.readlink(cwd)).is_relative_to(folder):
                found.append(int(cwd.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_synth_on_mcp_servers_replays_every_episode_without_them(
    tmp_path, monkeypatch, sqlite_server, git_server, time_server, shop_seed, repo_seed
):
    servers_tmp = tmp_path / "tmp"  # where the servers' working folders go, to see that none is left
    servers_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(servers_tmp))
    pool = [
        f"mcp:name=shop;seed={shop_seed};{sqlite_server} --db-path shop.db",
        f"mcp:name=repo;seed={repo_seed};{git_server} --repository .",
        f"mcp:name=clock;{time_server} --local-timezone UTC",
    ]
    out = tmp_path / "run"
    config = load_config(None, [f"out={out}", "paths.walks_per_function=3", "translate.shard_size=8"], {"pool": pool})
    synth = Synth(config, progress=False)
    report = asyncio.run(synth.run())

    assert all(klass.mcp_host._loop is None for klass in synth.toolkits)  # every server ended with the run
    assert sum(klass.mcp_host.servers_started for klass in synth.toolkits) > 3
    assert not list(servers_tmp.iterdir()), "a server's folder outlived the run"
    assert not _processes_in(servers_tmp), "a server process outlived the run"
    translate = report["stages"]["translate"]
    assert translate["accepted"] > 0 and translate["rejected"] > 0  # the offline teacher's guesses fail some calls
    episodes = [Episode.from_dict(record) for record in read_records(out / "episodes")]
    assert len(episodes) == translate["accepted"]
    toolkits = Counter(name for episode in episodes for name in episode.toolkits)
    assert set(toolkits) <= {"shop", "repo", "clock"} and len(toolkits) >= 2
    served = [call for episode in episodes for turn in episode.turns for call in turn.calls]
    assert any(call.name == "list_tables" for call in served)

    # No server from here on: the graph's specs and the run's recorded outputs are enough to replay.
    graph = FunctionGraph.load(out / "graph.json")
    outputs = RequestCache(out / "mcp-outputs.sqlite")
    registry = {
        server.name: recorded_toolkit_class(server, graph.specs, outputs)
        for server in (parse_mcp_entry(entry) for entry in pool)
    }
    assert all(replay(episode, registry) == [] for episode in episodes)
    listed = [
        output
        for episode in episodes
        for turn in episode.turns
        for call, output in zip(turn.calls, turn.outputs, strict=True)
        if call.name == "list_tables"
    ]
    assert listed and all(output == "[{'name': 'customers'}, {'name': 'orders'}]" for output in listed)

    sft = [row for split in datasets.load_from_disk(str(out / "datasets" / "sft")).values() for row in split]
    check_sft_rows(sft)
    tool_texts = [m["content"] for row in sft for m in row["messages"] if m["role"] == "tool"]
    assert any("customers" in text for text in tool_texts)
    assert not any(str(tmp_path) in json.dumps(row) for row in sft)  # no server folder leaks into the data
