"""The executor: every kind of bad call becomes an error result, the run goes on, snapshots restore."""

from __future__ import annotations

import threading
import time

import pytest

from magnet.errors import ExecutionError
from magnet.tools.calls import FunctionCall, parse_calls
from magnet.tools.executor import Environment


@pytest.fixture
def env(piggy_class):
    return Environment.from_state([piggy_class], {"Piggy": {"accounts": {"acc-1": 10.0, "acc-2": 0.0}}}, time_limit=0.5)


def test_calls_run_in_order_and_change_state(env):
    results = env.execute(parse_calls("[deposit(account_id='acc-2', amount=5), get_balance(account_id='acc-2')]"))
    assert [r.ok for r in results] == [True, True]
    assert results[1].output == {"account_id": "acc-2", "balance": 5.0}
    assert results[1].content == '{"account_id": "acc-2", "balance": 5.0}'
    assert env.state()["Piggy"]["log"] == [["deposit", "acc-2", 5]]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (FunctionCall("withdraw", {"account_id": "acc-1"}), "unknown function 'withdraw'; available functions: "),
        (FunctionCall("deposit", {"account_id": "acc-1"}), "missing required argument(s) ['amount']"),
        (FunctionCall("deposit", {"account_id": "acc-1", "amount": 1, "memo": "x"}), "unexpected argument 'memo'"),
        (
            FunctionCall("deposit", {"account_id": "acc-1", "amount": "5"}),
            "argument 'amount': expected number, got str",
        ),
        (FunctionCall("deposit", {"account_id": 1, "amount": 5}), "argument 'account_id': expected string, got int"),
        (FunctionCall("deposit", {"account_id": "acc-1", "amount": True}), "expected number, got bool"),
        (FunctionCall("explode", {"reason": "kaput"}), "explode raised RuntimeError: kaput"),
        (FunctionCall("sleep", {"seconds": 5}), "sleep did not finish within 0.5 s"),
        (FunctionCall("get_balance", {"account_id": "nope"}), "no account 'nope'"),
    ],
)
def test_bad_calls_become_error_results_and_the_run_goes_on(env, call, message):
    before = env.state()
    results = env.execute([call, FunctionCall("get_balance", {"account_id": "acc-1"})])
    assert not results[0].ok
    assert message in results[0].error
    assert results[0].output == {"error": results[0].error}
    assert results[1].ok and results[1].output["balance"] == 10.0
    assert env.state() == before


def test_time_limit_off_the_main_thread(env):
    box = {}
    worker = threading.Thread(target=lambda: box.update(result=env.execute_one(FunctionCall("sleep", {"seconds": 2}))))
    worker.start()
    worker.join(5)
    assert "did not finish within 0.5 s" in box["result"].error


def test_optional_none_is_accepted_like_python(piggy_class):
    env = Environment([piggy_class()])
    result = env.execute_one(FunctionCall("explode", {"reason": None}))
    assert "raised RuntimeError: None" in result.error


def test_hidden_functions_are_not_available(piggy_class):
    env = Environment([piggy_class()], hidden={"deposit"})
    assert env.execute_one(FunctionCall("deposit", {"account_id": "acc-1", "amount": 1})).error == (
        "function 'deposit' is not available"
    )
    assert "deposit" not in [s.name for s in env.available_specs()]


def test_snapshot_restore_branches_from_the_same_point(env):
    env.execute_one(FunctionCall("deposit", {"account_id": "acc-1", "amount": 1}))
    point = env.snapshot()
    env.execute_one(FunctionCall("deposit", {"account_id": "acc-1", "amount": 100}))
    branch_a = env.state()
    env.restore(point)
    assert env.state()["Piggy"]["accounts"]["acc-1"] == 11.0
    env.execute_one(FunctionCall("deposit", {"account_id": "acc-1", "amount": 100}))
    assert env.state() == branch_a
    env.restore(point)  # a snapshot can be restored more than once
    assert env.state()["Piggy"]["accounts"]["acc-1"] == 11.0


def test_results_are_snapshots_at_call_time(env):
    first = env.execute_one(FunctionCall("get_balance", {"account_id": "acc-1"}))
    env.execute_one(FunctionCall("deposit", {"account_id": "acc-1", "amount": 1}))
    assert first.output["balance"] == 10.0


def test_bad_environments_are_refused(piggy_class):
    with pytest.raises(ExecutionError, match="toolkit 'Piggy' appears twice"):
        Environment([piggy_class(), piggy_class()])
    with pytest.raises(ExecutionError, match=r"initial state names toolkit\(s\) \['Bank'\]"):
        Environment.from_state([piggy_class], {"Bank": {}})


def test_function_name_collisions_are_refused(piggy_class):
    twin = type("Twin", (piggy_class,), {})
    with pytest.raises(ExecutionError, match="function 'deposit' is defined by both Piggy and Twin"):
        Environment([piggy_class(), twin()])


def test_snapshots_copy_toolkits_pickle_cannot_reach():
    """Snapshots copy by pickling (fast); a class pickle cannot find by name (defined in a function, or in a
    notebook cell run again) is deep-copied instead, and restores the same."""
    from magnet.tools.toolkit import Toolkit

    class Counter(Toolkit):  # local: pickle cannot import it by name
        @classmethod
        def default_state(cls):
            return {"count": 0, "log": []}

        def bump(self, by: int) -> dict:
            """Add to the count.

            Args:
                by: How much.
            """
            self.data["count"] += by
            self.data["log"].append(by)
            return {"count": self.data["count"]}

    environment = Environment([Counter()])
    snapshot = environment.snapshot()
    environment.execute([FunctionCall("bump", {"by": 2})])
    assert environment.state() == {"Counter": {"count": 2, "log": [2]}}
    environment.restore(snapshot)
    assert environment.state() == {"Counter": {"count": 0, "log": []}}
    environment.execute([FunctionCall("bump", {"by": 1})])
    environment.restore(snapshot)  # the snapshot is not shared with the restored instances
    assert (
        environment.state() == {"Counter": {"count": 0, "log": []}} and type(environment.toolkits["Counter"]) is Counter
    )


def test_a_tool_that_catches_every_exception_still_times_out(piggy_class):
    class Stubborn(piggy_class):
        def persist(self, seconds: float) -> dict:
            """Retries its work whatever goes wrong.

            Args:
                seconds: How long to work.
            """
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                try:
                    time.sleep(0.01)
                except Exception:  # the kind of blanket handler tools have
                    continue
            return {"done": True}

    env = Environment.from_state([Stubborn], {Stubborn.toolkit_name(): {"accounts": {}}}, time_limit=0.3)
    started = time.monotonic()
    [result] = env.execute([FunctionCall("persist", {"seconds": 3})])
    assert "persist did not finish within 0.3 s" in result.error and time.monotonic() - started < 2


def _waiting_toolkit(blocking: bool):
    """A toolkit whose one call waits for an event that only the event loop sets: it returns only if the loop goes
    on while it runs."""
    from magnet.tools.toolkit import Toolkit

    class Waiter(Toolkit):
        released = threading.Event()

        @classmethod
        def default_state(cls):
            return {}

        def wait_for_loop(self) -> dict:
            """Wait (half a second at most) for the event loop to release it."""
            return {"released": type(self).released.wait(0.5), "thread": threading.current_thread().name}

    Waiter.blocking = blocking
    return Waiter


@pytest.mark.parametrize("blocking", [True, False])
def test_calls_that_wait_on_a_server_leave_the_event_loop_free(blocking):
    """An MCP server's call (``Toolkit.blocking``) runs on a thread, so other episodes go on meanwhile; a Python
    tool's call runs in place, where a thread would cost more than the call."""
    import asyncio

    waiter = _waiting_toolkit(blocking)

    async def episode_and_another() -> dict:
        async def another_episode() -> None:
            await asyncio.sleep(0.05)
            waiter.released.set()

        other = asyncio.ensure_future(another_episode())
        environment = Environment([waiter()])
        assert environment.blocking is blocking
        [result] = await environment.execute_async([FunctionCall("wait_for_loop", {})])
        await other
        return result.output

    output = asyncio.run(episode_and_another())
    assert output["released"] is blocking  # in place, the loop could not run the other episode until it returned
    assert (output["thread"] == threading.main_thread().name) is not blocking
