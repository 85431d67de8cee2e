"""The builtin training pool: big enough, chained, deterministic, and robust to any schema-valid input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from magnet.errors import ToolkitError
from magnet.tools.builtin import BUILTIN_TOOLKITS
from magnet.tools.calls import FunctionCall
from magnet.tools.executor import Environment
from magnet.tools.pool import chaining_pairs, check_training_pool, pool_stats, response_fields
from magnet.tools.spec import FunctionSpec, validate_spec_dict

BFCL_DOMAIN_WORDS = ("file", "directory", "tweet", "ticket", "stock", "flight", "vehicle", "engine")


def test_pool_size_and_spec_quality():
    stats = pool_stats(BUILTIN_TOOLKITS)
    assert stats.toolkits >= 10 and stats.functions >= 100
    specs = [spec for klass in BUILTIN_TOOLKITS for spec in klass.specs()]
    assert len({spec.name for spec in specs}) == len(specs), "function names must be unique across the pool"
    for spec in specs:
        assert validate_spec_dict(spec.to_dict()) == []
        assert spec.description, spec.name
        assert all(schema.get("description") for schema in spec.properties.values()), spec.name
        assert spec.response and spec.response.get("properties"), spec.name
        assert spec.category and spec.tool_class and spec.toolkit
        assert not any(word in spec.name for word in BFCL_DOMAIN_WORDS), f"{spec.name} looks like a BFCL domain"


def test_pool_chains_within_and_across_toolkits():
    stats = pool_stats(BUILTIN_TOOLKITS)
    assert stats.chaining_function_pairs >= 300
    assert stats.cross_toolkit_pairs >= 50
    assert stats.functions_with_successor >= 0.6 * stats.functions
    assert stats.functions_with_predecessor >= 0.6 * stats.functions


def test_chaining_pairs_match_name_and_type():
    source = FunctionSpec(
        "find",
        "",
        response={
            "type": "object",
            "properties": {
                "items": {"type": "array", "items": {"type": "object", "properties": {"order_id": {"type": "string"}}}},
                "total": {"type": "number"},
            },
        },
    )
    takes_id = FunctionSpec("cancel", "", {"type": "object", "properties": {"order_id": {"type": "string"}}})
    takes_int_id = FunctionSpec("cancel_num", "", {"type": "object", "properties": {"order_id": {"type": "integer"}}})
    takes_amount = FunctionSpec("pay", "", {"type": "object", "properties": {"max_total": {"type": "integer"}}})
    pairs = {
        (p.source, p.target, p.field, p.parameter)
        for p in chaining_pairs([source, takes_id, takes_int_id, takes_amount])
    }
    assert pairs == {("find", "cancel", "order_id", "order_id"), ("find", "pay", "total", "max_total")}
    assert ("order_id", "string") in set(response_fields(source.response))


def test_training_pool_accepts_builtin_toolkits():
    check_training_pool(BUILTIN_TOOLKITS)
    flagged = type("Benchmark", (BUILTIN_TOOLKITS[0],), {"evaluation_only": True})
    with pytest.raises(ToolkitError, match=r"\['Benchmark'\] are the evaluation pool"):
        check_training_pool([flagged])


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in [key, *_strings_in(item)]]
    if isinstance(value, list):
        return [s for item in value for s in _strings_in(item)]
    return []


def _value(schema: dict, rng: random.Random, strings: list[str]) -> Any:
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        return rng.choice([-3, 0, 1, 2, 5, 40, 10**6])
    if kind == "number":
        return rng.choice([-2.5, 0.0, 0.5, 3.0, 99.9, 1e6])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "array":
        return [_value(schema.get("items", {"type": "string"}), rng, strings) for _ in range(rng.randint(0, 3))]
    return rng.choice(strings)


def _random_calls(specs: list[FunctionSpec], state: dict, seed: int, count: int) -> list[FunctionCall]:
    rng = random.Random(seed)
    extra = ["", "x", "2026-03-02", "2026-03-02T09:00", "nobody@example.com", "Paris", "EUR", "not-a-date"]
    strings = [*sorted(set(_strings_in(state))), *extra]
    calls = []
    for _ in range(count):
        spec = rng.choice(specs)
        arguments = {}
        for name, schema in spec.properties.items():
            if name in spec.required or rng.random() < 0.5:
                arguments[name] = _value(schema, rng, strings)
        calls.append(FunctionCall(spec.name, arguments))
    return calls


@pytest.mark.parametrize("toolkit", BUILTIN_TOOLKITS, ids=lambda klass: klass.toolkit_name())
def test_schema_valid_calls_never_raise_and_replay_identically(toolkit):
    state = toolkit.random_state(random.Random(7))
    calls = _random_calls(toolkit.specs(), state, seed=11, count=400)
    first = Environment.from_state([toolkit], {toolkit.toolkit_name(): state})
    outputs = [result for result in first.execute(calls)]
    crashes = [r.error for r in outputs if r.error and (" raised " in r.error or "did not finish" in r.error)]
    assert not crashes, crashes[:5]
    assert sum(r.ok for r in outputs) >= 0.2 * len(outputs), "random calls should often succeed on real ids"
    for result in outputs:
        json.dumps(result.output)
    second = Environment.from_state([toolkit], {toolkit.toolkit_name(): state})
    assert [r.output for r in second.execute(calls)] == [r.output for r in outputs]
    assert second.state() == first.state()
    json.dumps(first.state())


USER_TOOLKIT = '''
from magnet.tools.toolkit import Toolkit


class Greeter(Toolkit):
    """Says hello."""

    def greet(self, name: str) -> dict:
        """Greet someone.

        Args:
            name: Who to greet.
        """
        return {"greeting": f"hello {name}"}


class NotAToolkit:
    pass
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_tools.py").write_text(USER_TOOLKIT)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "my_tools"


def test_a_pool_names_user_toolkits_by_import_path(user_module):
    from magnet.tools.pool import pool_specs, pool_toolkits

    classes = pool_toolkits(f"builtin, {user_module}:Greeter")
    assert classes[-1].__name__ == "Greeter" and classes[:-1] == list(BUILTIN_TOOLKITS)
    assert pool_toolkits([f"{user_module}:Greeter"])[0].specs()[0].name == "greet"
    names = [spec.name for spec in pool_specs(f"{user_module}:Greeter,builtin")]
    assert names[0] == "greet" and len(names) == 1 + sum(len(k.specs()) for k in BUILTIN_TOOLKITS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("my_tools:Missing", "my_tools has no Toolkit subclass named Missing"),
        ("my_tools:NotAToolkit", "my_tools has no Toolkit subclass named NotAToolkit"),
        ("no_such_module_here:Thing", "cannot import no_such_module_here"),
        ("my_tools:", "expected package.module:ClassName"),
        ("my_tools:Greeter,my_tools:Greeter", "toolkit name(s) ['Greeter'] appear twice"),
    ],
)
def test_a_bad_toolkit_entry_is_named(user_module, entry, message):
    from magnet.tools.pool import pool_toolkits

    with pytest.raises(ToolkitError) as caught:
        pool_toolkits(entry)
    assert message in str(caught.value)


def test_a_module_in_the_current_folder_and_a_file_path_name_toolkits(tmp_path, monkeypatch):
    """``magnet`` is a console script: the current folder is not on its path, yet ``my_tools:Class`` there must
    resolve as ``python -c "import my_tools"`` would; ``path/to/file.py:Class`` works from anywhere."""
    import sys

    from magnet.tools.pool import pool_toolkits

    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "cwd_tools.py").write_text(USER_TOOLKIT)
    (tmp_path / "elsewhere.py").write_text(USER_TOOLKIT)
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(folder))])
    monkeypatch.delitem(sys.modules, "cwd_tools", raising=False)
    assert pool_toolkits("cwd_tools:Greeter")[0].specs()[0].name == "greet"
    (by_path,) = pool_toolkits(f"{tmp_path / 'elsewhere.py'}:Greeter")
    assert by_path.specs()[0].name == "greet"
    with pytest.raises(ToolkitError, match=r"elsewhere.py has no Toolkit subclass named Greter; it has \['Greeter'\]"):
        pool_toolkits(f"{tmp_path / 'elsewhere.py'}:Greter")


def test_a_pool_entry_that_is_nothing_says_what_an_entry_can_be():
    from magnet.tools.pool import pool_specs

    with pytest.raises(
        ToolkitError, match=r"pool entry 'Travel': no such file or folder; a pool entry is builtin, bfcl"
    ):
        pool_specs("builtin,Travel")
