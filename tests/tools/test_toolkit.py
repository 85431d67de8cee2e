"""Toolkits: functions come from public (or marked) methods, state loads and snapshots as JSON."""

from __future__ import annotations

import json

import pytest

from magnet.errors import ToolkitError


def test_functions_are_public_methods_and_marked_private_ones(piggy_class):
    assert piggy_class.function_names() == ["deposit", "get_balance", "explode", "sleep", "close_account"]
    specs = {spec.name: spec for spec in piggy_class.specs()}
    assert specs["close_account"].description == "Close an account for good."
    assert specs["deposit"].category == "Finance" and specs["deposit"].tool_class == "Savings tool"
    assert specs["deposit"].toolkit == "Piggy"
    assert specs["deposit"].response["properties"]["balance"]["type"] == "number"


def test_state_loads_over_defaults_and_snapshots_deeply(piggy_class):
    piggy = piggy_class({"accounts": {"acc-9": 5.0}})
    assert piggy.state() == {"accounts": {"acc-9": 5.0}, "log": []}
    snapshot = piggy.state()
    piggy.dispatch("deposit")("acc-9", 1.0)
    assert snapshot["accounts"]["acc-9"] == 5.0
    assert json.loads(json.dumps(piggy.state())) == piggy.state()


def test_unknown_state_key_is_an_error_naming_it(piggy_class):
    with pytest.raises(ToolkitError, match=r"Piggy.load_state: unknown state key\(s\) \['acount'\]"):
        piggy_class({"acount": {}})


def test_dispatch_refuses_unknown_and_private_names(piggy_class):
    piggy = piggy_class()
    with pytest.raises(ToolkitError, match="Piggy has no function 'load_state'"):
        piggy.dispatch("load_state")
    with pytest.raises(ToolkitError, match="has no function '_close'"):
        piggy.dispatch("_close")


def test_a_misspelt_override_is_refused_where_it_is_written():
    from magnet.tools.spec import spec_from_callable
    from magnet.tools.toolkit import function

    with pytest.raises(TypeError, match=r"function\(\) got unexpected keyword argument\(s\) \['categroy'\]"):
        function(categroy="Finance")
    with pytest.raises(TypeError, match=r"spec_from_callable\(\) got unexpected keyword argument\(s\) \['nmae'\]"):
        spec_from_callable(len, nmae="size")
