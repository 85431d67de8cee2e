"""Run calls against toolkit instances, and never let a bad call stop the run.

An ``Environment`` holds one instance of each toolkit of an episode, built from an initial state. ``execute``
returns one ``CallResult`` per call; an unknown function, a missing, unknown or mistyped argument, an exception
inside the tool, or a call over its time limit each becomes an error result (``{"error": "..."}``, BFCL's
convention) with a message a model can act on, and the next call runs. ``snapshot``/``restore`` copy the whole
environment, for branching rollouts from the same point.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from magnet.errors import ExecutionError
from magnet.tools.calls import FunctionCall
from magnet.tools.function_spec import FunctionSpec
from magnet.tools.schema_check import argument_problems, type_problem
from magnet.tools.time_limit import CallRunner, CallTimeout
from magnet.tools.toolkit import Toolkit, copy_state

# Callers import the checks and the timeout from here, where calls are executed.
__all__ = [
    "DEFAULT_TIME_LIMIT",
    "CallResult",
    "CallTimeout",
    "Environment",
    "Snapshot",
    "argument_problems",
    "type_problem",
]

DEFAULT_TIME_LIMIT = 10.0


@dataclass(frozen=True)
class CallResult:
    """What one call returned, frozen at call time.

    ``output`` is a JSON value (``{"error": ...}`` on failure); ``content`` is the text a tool message shows,
    formatted exactly as BFCL's executor formats results (a string as it is, a dict as ``json.dumps``, anything
    else as ``str``), so that training data and BFCL evaluation show a model the same text.
    """

    call: FunctionCall
    output: Any
    error: str | None = None
    toolkit: str | None = None
    seconds: float = 0.0
    content: str = ""

    @classmethod
    def freeze(
        cls, call: FunctionCall, output: Any, error: str | None, toolkit: str | None, seconds: float = 0.0
    ) -> CallResult:
        """A result from what a tool returned. A tool may return its own stored objects (BFCL's classes do), which
        later calls change; text and output are taken now, so a result never changes after the call."""
        return cls(call, _json_snapshot(output), error, toolkit, seconds, _bfcl_text(output))

    @property
    def ok(self) -> bool:
        """True when the call ran and its output is not an error."""
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form for logs and episode files."""
        return {
            "call": self.call.to_dict(),
            "output": self.output,
            "error": self.error,
            "toolkit": self.toolkit,
            "content": self.content,
        }


def _bfcl_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, dict):
        try:
            return json.dumps(output)
        except (TypeError, ValueError):
            return str(output)
    return str(output)


def _json_snapshot(output: Any) -> Any:
    """A JSON copy of an output (fast); objects JSON cannot hold are deep-copied, or as a last resort repr'd."""
    try:
        return json.loads(json.dumps(output))
    except (TypeError, ValueError):
        try:
            return copy.deepcopy(output)
        except Exception:
            return repr(output)


def _clone_toolkits(toolkits: dict[str, Toolkit]) -> dict[str, Toolkit]:
    """A deep copy of toolkit instances. Snapshots and restores happen at every turn and attempt of synthesis, and
    a pickle round trip copies plain toolkit state about 4x faster than ``copy.deepcopy``; instances pickle cannot
    copy faithfully (a class defined in a function, or redefined since, as in a notebook) are deep-copied."""
    cloned = copy_state(toolkits)
    if any(type(cloned[name]) is not type(toolkit) for name, toolkit in toolkits.items()):
        return copy.deepcopy(toolkits)
    return cloned


@dataclass
class Snapshot:
    """A deep copy of an environment's toolkit instances, to restore later."""

    toolkits: dict[str, Toolkit] = field(default_factory=dict)


class Environment:
    """The toolkit instances of one episode, and safe execution of calls against them.

    Parameters
    ----------
    toolkits:
        Toolkit instances; their function names must not collide (a collision is an ``ExecutionError``).
    time_limit:
        Seconds one call may run before it becomes an error result (0: no limit). On the main thread the call is
        interrupted; elsewhere it is abandoned and may still change its toolkit's state (``magnet.tools.time_limit``
        says how). Off the main thread calls run on one worker thread that the environment owns: ``close()`` it,
        or use the environment as a context manager, to end that thread before the environment is collected.
    hidden:
        Function names that exist but are not available now (a miss-func turn): calling one is an error
        result saying the function is not available.
    check_types:
        Check argument values against the parameter schemas. BFCL's own executor checks nothing (and one of its
        ground-truth calls passes a string where the doc says integer), so BFCL environments turn it off to
        execute exactly as BFCL does; missing and unknown arguments are still errors.
    """

    def __init__(
        self,
        toolkits: Iterable[Toolkit],
        *,
        time_limit: float = DEFAULT_TIME_LIMIT,
        hidden: Iterable[str] = (),
        check_types: bool = True,
    ):
        self.toolkits: dict[str, Toolkit] = {}
        self.time_limit = time_limit
        self.check_types = check_types
        self.hidden = set(hidden)
        self._runner = CallRunner()
        self._specs: dict[str, FunctionSpec] = {}
        self._owner: dict[str, str] = {}
        for toolkit in toolkits:
            name = toolkit.toolkit_name()
            if name in self.toolkits:
                raise ExecutionError(f"toolkit {name!r} appears twice in the environment")
            self.toolkits[name] = toolkit
            for spec in toolkit.specs():
                if spec.name in self._owner:
                    raise ExecutionError(
                        f"function {spec.name!r} is defined by both {self._owner[spec.name]} and {name}; "
                        "rename one (a FunctionSpec name must be unique within an environment)"
                    )
                self._owner[spec.name] = name
                self._specs[spec.name] = spec

    @classmethod
    def from_state(
        cls, toolkit_classes: Iterable[type[Toolkit]], initial_state: Mapping[str, Any] | None = None, **options: Any
    ) -> Environment:
        """Fresh instances of ``toolkit_classes``, each loaded with ``initial_state[toolkit name]`` if given."""
        classes = list(toolkit_classes)
        state = dict(initial_state or {})
        known = {klass.toolkit_name() for klass in classes}
        unknown = sorted(set(state) - known)
        if unknown:
            raise ExecutionError(f"initial state names toolkit(s) {unknown} not in the environment {sorted(known)}")
        return cls([klass(state.get(klass.toolkit_name())) for klass in classes], **options)

    @property
    def specs(self) -> list[FunctionSpec]:
        """Specs of every function in the environment, hidden ones included."""
        return list(self._specs.values())

    def available_specs(self) -> list[FunctionSpec]:
        """Specs of the functions that may be called now (hidden ones left out)."""
        return [spec for name, spec in self._specs.items() if name not in self.hidden]

    def spec(self, name: str) -> FunctionSpec | None:
        """The spec of function ``name``, or None."""
        return self._specs.get(name)

    def parameter_order(self) -> dict[str, list[str]]:
        """Parameter names in signature order for every function (pass to ``parse_calls``)."""
        order: dict[str, list[str]] = {}
        for toolkit in self.toolkits.values():
            order.update(toolkit.parameter_order())
        return order

    def state(self) -> dict[str, Any]:
        """``{toolkit name: toolkit.state()}``: a JSON snapshot to compare two runs by."""
        return {name: toolkit.state() for name, toolkit in self.toolkits.items()}

    def snapshot(self) -> Snapshot:
        """A deep copy of every toolkit instance."""
        return Snapshot(toolkits=_clone_toolkits(self.toolkits))

    def restore(self, snapshot: Snapshot) -> None:
        """Return to a snapshot (the snapshot stays usable for another restore)."""
        if set(snapshot.toolkits) != set(self.toolkits):
            raise ExecutionError(
                f"snapshot holds toolkits {sorted(snapshot.toolkits)}, environment has {sorted(self.toolkits)}"
            )
        self.toolkits = _clone_toolkits(snapshot.toolkits)

    def execute(self, calls: Iterable[FunctionCall]) -> list[CallResult]:
        """Run calls in order; one result per call, errors included."""
        return [self.execute_one(call) for call in calls]

    @property
    def blocking(self) -> bool:
        """Whether a toolkit's calls wait on something outside the process (``Toolkit.blocking``)."""
        return any(type(toolkit).blocking for toolkit in self.toolkits.values())

    async def execute_async(self, calls: Iterable[FunctionCall]) -> list[CallResult]:
        """``execute`` for async callers: on a thread when a toolkit's calls wait on a server (an MCP server's
        start or answer), so that the event loop serves the other episodes meanwhile; in place otherwise, where a
        thread would cost more than the call."""
        calls = list(calls)
        if self.blocking:
            return await asyncio.to_thread(self.execute, calls)
        return self.execute(calls)

    def execute_one(self, call: FunctionCall) -> CallResult:
        """Run one call; every failure is an error result, never an exception."""
        spec = self._specs.get(call.name)
        if spec is None:
            return _failure(call, None, f"unknown function {call.name!r}; {self._available_hint()}")
        if call.name in self.hidden:
            return _failure(call, spec.toolkit, f"function {call.name!r} is not available")
        problems = argument_problems(call, spec, check_types=self.check_types)
        if problems:
            return _failure(call, spec.toolkit, f"invalid call to {call.name}: " + "; ".join(problems))
        toolkit_name = self._owner[call.name]
        method = self.toolkits[toolkit_name].dispatch(call.name)
        arguments = copy.deepcopy(dict(call.arguments))
        started = time.perf_counter()
        try:
            output = self._runner.run(lambda: method(**arguments), self.time_limit)
        except CallTimeout:
            return _failure(
                call,
                toolkit_name,
                f"{call.name} did not finish within {self.time_limit:g} s",
                time.perf_counter() - started,
            )
        except Exception as error:  # a tool's bug must not stop the run; the model sees what happened
            return _failure(
                call, toolkit_name, f"{call.name} raised {type(error).__name__}: {error}", time.perf_counter() - started
            )
        seconds = time.perf_counter() - started
        message = str(output["error"]) if isinstance(output, Mapping) and set(output) == {"error"} else None
        return CallResult.freeze(call, output, message, toolkit_name, seconds)

    def close(self) -> None:
        """End the worker thread of calls made off the main thread, if any (the environment stays usable)."""
        self._runner.close()

    def __enter__(self) -> Environment:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _available_hint(self) -> str:
        names = sorted(name for name in self._specs if name not in self.hidden)
        shown = ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")
        return f"available functions: {shown}" if names else "no functions are available"


def _failure(call: FunctionCall, toolkit: str | None, message: str, seconds: float = 0.0) -> CallResult:
    return CallResult.freeze(call, {"error": message}, message, toolkit, seconds)
