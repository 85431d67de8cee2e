"""The ``magnet`` command: pool statistics, spec export and call execution, with clear errors."""

from __future__ import annotations

import json

from magnet.cli import main
from magnet.tools.spec import load_openai_tools


def test_pool_prints_counts(capsys):
    assert main(["pool"]) == 0
    out = capsys.readouterr().out
    assert "builtin training pool" in out and "Calendar" in out and "chaining pairs" in out


def test_pool_json(capsys):
    assert main(["pool", "--json", "--toolkits", "Calendar"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["toolkits"] == 1 and stats["functions"] >= 9


def test_specs_export_reloads(tmp_path, capsys):
    out = tmp_path / "tools.json"
    assert main(["specs", "--out", str(out), "--toolkits", "Calendar"]) == 0
    specs = load_openai_tools(out)
    assert specs[0].toolkit == "Calendar" and specs[0].response is not None


def test_call_runs_calls_and_reports_errors(capsys):
    code = main(
        [
            "call",
            "--toolkits",
            "Calendar",
            "[create_event(title='Sync', start='2026-03-05T10:00'), get_event(event_id='evt-0404')]",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "ok  create_event(title='Sync', start='2026-03-05T10:00')" in out
    assert "ERR get_event(event_id='evt-0404')" in out and "no event with id 'evt-0404'" in out


def test_bad_input_is_a_message_not_a_traceback(capsys):
    assert main(["call", "[get_event(event_id=__import__('os'))]"]) == 2
    assert "only literal values are allowed" in capsys.readouterr().err
    assert main(["pool", "--toolkits", "Nope"]) == 2
    assert "unknown toolkit(s) ['Nope']" in capsys.readouterr().err
