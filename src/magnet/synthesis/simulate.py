"""Simulated execution: functions that have only a spec, executed by a teacher (StableToolBench's pattern).

A ``Simulator`` holds spec-only functions (from an OpenAI tool file or a StableToolBench folder). Before a
batch of calls runs, ``await simulator.prepare(calls)`` asks the teacher for the output of every call it has
not answered yet, showing it a few earlier answers of the same function so that outputs stay consistent; an
answer that does not fit the response schema is retried with the problem shown, then becomes an error result.
Answers are stored (in memory and, given a store, on disk), so the same call always returns the same output,
on this run and the next. ``toolkit_class()`` wraps the simulator as a ``Toolkit`` so an ``Environment``
executes simulated and real functions alike; ``magnet.tools`` itself never sees a model.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from magnet.errors import StepError, TeacherError, ToolkitError
from magnet.llm.cache import RequestCache
from magnet.llm.client import Teacher
from magnet.synthesis.steps import SIMULATE, SimulateInputs, run_step
from magnet.tools.calls import FunctionCall
from magnet.tools.spec import FunctionSpec
from magnet.tools.toolkit import Toolkit

logger = logging.getLogger(__name__)

STORE_MODEL = "simulated-outputs"


def call_key(call: FunctionCall) -> str:
    """A stable key for a call: its name and canonical arguments."""
    canonical = json.dumps([call.name, dict(call.arguments)], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Simulator:
    """Outputs of spec-only functions, asked of a teacher once per distinct call and then remembered.

    Parameters
    ----------
    teacher:
        Any ``Teacher`` (the offline backend answers with schema-shaped outputs).
    specs:
        The spec-only functions this simulator executes.
    store:
        Optional on-disk store (a ``RequestCache``) of answers by call, shared across runs.
    examples:
        How many earlier answers of the same function the prompt shows.
    """

    def __init__(
        self,
        teacher: Teacher,
        specs: Iterable[FunctionSpec],
        *,
        store: RequestCache | None = None,
        examples: int = 3,
        max_attempts: int = 3,
        max_concurrency: int = 16,
    ):
        self.teacher = teacher
        self.specs = {spec.name: spec for spec in specs}
        self.store = store
        self.examples = examples
        self.max_attempts = max_attempts
        self.max_concurrency = max_concurrency
        self.answers: dict[str, Any] = {}
        self.failures: dict[str, str] = {}
        self._by_function: dict[str, list[tuple[FunctionCall, Any]]] = {}

    def known(self, call: FunctionCall) -> bool:
        """Whether the call's output (or its failure) is already known."""
        key = call_key(call)
        return key in self.answers or key in self.failures

    def output(self, call: FunctionCall) -> Any:
        """The prepared output of a call (an error result when it failed or was never prepared)."""
        key = call_key(call)
        if key in self.answers:
            return self.answers[key]
        if key in self.failures:
            return {"error": self.failures[key]}
        stored = self.store.get(key) if self.store is not None else None
        if stored is not None:  # answered on an earlier run
            self._remember(call, stored["output"])
            return stored["output"]
        return {"error": f"{call.name} was not simulated: call Simulator.prepare() before executing"}

    def _remember(self, call: FunctionCall, output: Any) -> None:
        self.answers[call_key(call)] = output
        self._by_function.setdefault(call.name, []).append((call, output))

    async def prepare(self, calls: Iterable[FunctionCall]) -> None:
        """Make sure every call to a simulated function has an output: from memory, the store, or the teacher."""
        todo: dict[str, FunctionCall] = {}
        for call in calls:
            if call.name not in self.specs or self.known(call):
                continue
            key = call_key(call)
            stored = self.store.get(key) if self.store is not None else None
            if stored is not None:
                self._remember(call, stored["output"])
            else:
                todo.setdefault(key, call)
        if not todo:
            return
        semaphore = asyncio.Semaphore(self.max_concurrency)

        async def simulate(call: FunctionCall) -> None:
            async with semaphore:
                earlier = sorted(self._by_function.get(call.name, []), key=lambda item: item[0].to_text())
                inputs = SimulateInputs(self.specs[call.name], call, tuple(earlier[: self.examples]))
                try:
                    result = await run_step(self.teacher, SIMULATE, inputs, max_attempts=self.max_attempts)
                except (StepError, TeacherError) as error:
                    self.failures[call_key(call)] = f"simulation of {call.name} failed: {error}"
                    logger.warning("simulated call %s failed: %s", call.to_text(), error)
                    return
            self._remember(call, result.value)
            if self.store is not None:
                self.store.put(call_key(call), {"output": result.value}, model=STORE_MODEL, step="simulated_output")

        await asyncio.gather(*(simulate(call) for call in todo.values()))

    def toolkit_class(self, name: str = "Simulated", functions: Iterable[str] | None = None) -> type[Toolkit]:
        """A ``Toolkit`` class named ``name`` whose functions are this simulator's specs (or those named in
        ``functions``) and whose outputs are the prepared ones."""
        simulator = self
        chosen = list(functions) if functions is not None else list(self.specs)
        unknown = [function for function in chosen if function not in self.specs]
        if unknown:
            raise ToolkitError(f"the simulator has no spec for {unknown}")
        specs = tuple(self.specs[function] for function in chosen)
        category_name = (specs[0].category or "misc") if specs else "misc"

        class SimulatedToolkit(Toolkit):
            """Spec-only functions, executed by a simulator (stateless, like StableToolBench's APIs)."""

            evaluation_only = False
            category = category_name

            @classmethod
            def toolkit_name(cls) -> str:
                return name

            @classmethod
            def specs(cls) -> list[FunctionSpec]:
                return list(specs)

            @classmethod
            def function_names(cls) -> list[str]:
                return [spec.name for spec in specs]

            def dispatch(self, function_name: str):
                if function_name not in {spec.name for spec in specs}:
                    raise ToolkitError(f"{name} has no function {function_name!r}")

                def run(**arguments: Any) -> Any:
                    return simulator.output(FunctionCall(function_name, arguments))

                return run

        SimulatedToolkit.__name__ = SimulatedToolkit.__qualname__ = name if name.isidentifier() else "SimulatedToolkit"
        return SimulatedToolkit
