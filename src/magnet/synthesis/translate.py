"""Back-and-forth translation (section 3.4 of the paper): a signature path becomes an executable episode.

Turn by turn, the teacher playing the user writes the query from the turn's functions, the conversation so far
and the last outputs (back-translation); the teacher playing the agent writes the reference calls from the query
(forth-translation); the calls run in the environment and their outputs feed the next turn. A call that does not
parse, fails when executed, skips a function of the turn or repeats an earlier call is shown back to the
teacher (bounded retries); then the episode is rejected with its reason. Split turns are realised as BFCL does:
``miss_param`` leaves a value out (the assistant must ask; the next user turn supplies it), ``miss_func``
withholds the functions (the assistant must say so; the next turn announces they were added). Every episode is
replayed on a fresh environment before it is accepted.

Functions that no toolkit class of the pool implements (spec files) are executed by a ``Simulator``
(``registry_and_simulator``); those without a ``toolkit`` key (the plain OpenAI format) form one simulated toolkit
per category and tool class (``toolkit_of``). An irrelevance episode offers one toolkit of another category than
the function its query asks for, never that function itself; a pool whose functions share one category (a plain
tools file whose functions the labeller all put in ``misc``) yields no irrelevance episodes: each such path is
rejected as ``no_unrelated_toolkit``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from magnet.errors import MagnetError, StepError, TeacherError
from magnet.llm.client import Teacher
from magnet.synthesis.config import TranslateSettings
from magnet.synthesis.episode import FUNCTIONS_ADDED_QUERY, Episode, EpisodeTurn, episode_id, replay
from magnet.synthesis.graph import FunctionGraph
from magnet.synthesis.nesting import nested_links, nested_values, occurs
from magnet.synthesis.paths import SignaturePath
from magnet.synthesis.registry import (  # noqa: F401  (re-exported: the registry was defined here)
    build_registry,
    registry_and_simulator,
    spec_only_functions,
    toolkit_of,
)
from magnet.synthesis.simulate import Simulator
from magnet.synthesis.steps import (
    BACK_TRANSLATE,
    FORTH_TRANSLATE,
    AnswerError,
    NestedLink,
    StepResult,
    TranslateInputs,
    TurnRecord,
    run_step,
)
from magnet.tools.calls import FunctionCall, format_call
from magnet.tools.executor import CallResult, Environment
from magnet.tools.spec import FunctionSpec
from magnet.tools.toolkit import Toolkit

SINGLE_TURN_VARIANTS = ("single", "parallel", "multiple")


@dataclass
class TranslateConfig(TranslateSettings):
    """The translate settings of a synth config (retries per step with the error shown, attempts per turn), the
    base seed, and the per-call time limit."""

    seed: int = 0
    time_limit: float = 10.0


@dataclass(frozen=True)
class Rejection:
    """A path that did not become an episode: ``reason`` is a short key to count by, ``detail`` the message."""

    path_id: str
    episode_id: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (one JSON line of a rejection shard)."""
        return dataclasses.asdict(self)


class _Rejected(Exception):
    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


class _TurnFailed(_Rejected):
    """A turn that came out wrong in a way a new query may fix (a nested value stated outright): the turn starts
    over with another seed, and the path is rejected with this reason when every attempt fails so."""


def path_kind(path: SignaturePath) -> tuple[str, str]:
    """``(kind, variant)`` of a path from its operation labels (``single_turn:parallel``, ``irrelevance``)."""
    for op in path.ops:
        if op.startswith("single_turn:"):
            return "single_turn", op.split(":", 1)[1]
        if op == "irrelevance":
            return "irrelevance", ""
    return "multi_turn", ""


class Translator:
    """Translates signature paths of one graph into episodes with one teacher.

    Parameters
    ----------
    graph:
        The function graph the paths were sampled from (it holds the specs).
    registry:
        ``{toolkit name: Toolkit class}`` for every toolkit the graph's functions belong to.
    teacher:
        Plays the user (back-translation) and the agent (forth-translation).
    simulator:
        Executes spec-only functions, when the pool has any.
    """

    def __init__(
        self,
        graph: FunctionGraph,
        registry: Mapping[str, type[Toolkit]],
        teacher: Teacher,
        config: TranslateConfig | None = None,
        simulator: Simulator | None = None,
    ):
        self.graph = graph
        self.registry = dict(registry)
        self.teacher = teacher
        self.config = config or TranslateConfig()
        self.simulator = simulator

    async def translate(self, path: SignaturePath) -> Episode | Rejection:
        """The episode of ``path``, or why there is none. Never raises for a bad answer or a failing tool."""
        kind, variant = path_kind(path)
        seed = random.Random(f"{self.config.seed}:{path.id}").randrange(2**31)
        identifier = episode_id(path.id, kind, variant, seed)
        try:
            episode = await self._translate(path, kind, variant, seed, identifier)
        except _Rejected as rejected:
            return Rejection(path.id, identifier, rejected.reason, rejected.detail)
        except StepError as error:
            return Rejection(path.id, identifier, f"{error.step}:no_usable_answer", str(error))
        except TeacherError as error:
            return Rejection(path.id, identifier, f"teacher:{error.cause}", str(error))
        except MagnetError as error:  # a bad toolkit state or environment: this path fails, the run goes on
            return Rejection(path.id, identifier, f"error:{type(error).__name__}", str(error))
        differences = replay(episode, self.registry)
        if differences:
            return Rejection(path.id, identifier, "replay_mismatch", "; ".join(differences[:3]))
        return episode

    # -- the episode -------------------------------------------------------------------------------------------------

    def _specs(self, names: Sequence[str]) -> tuple[FunctionSpec, ...]:
        missing = [name for name in names if name not in self.graph.graph]
        if missing:
            raise _Rejected("unknown_function", f"functions {missing} are not in the graph")
        return tuple(self.graph.spec(name) for name in names)

    def _toolkits(self, names: Sequence[str]) -> list[str]:
        toolkits = list(dict.fromkeys(toolkit_of(spec) for spec in self._specs(names)))
        unknown = [name for name in toolkits if name not in self.registry]
        if unknown:
            raise _Rejected("unknown_toolkit", f"toolkit(s) {unknown} of the path are not in the registry")
        return toolkits

    async def _translate(self, path: SignaturePath, kind: str, variant: str, seed: int, identifier: str) -> Episode:
        rng = random.Random(seed)
        irrelevant = kind == "irrelevance"
        toolkits = [self._unrelated_toolkit(path, rng)] if irrelevant else self._toolkits(path.functions)
        initial_state = {name: self.registry[name].random_state(random.Random(f"{seed}:{name}")) for name in toolkits}
        env = Environment.from_state(
            [self.registry[name] for name in toolkits], initial_state, time_limit=self.config.time_limit
        )
        run = _Run(self, env, seed)
        if kind == "irrelevance":
            await run.irrelevant_turn(self._specs(path.turns[0]))
        else:
            await run.turns(path, variant)
        return Episode(
            id=identifier,
            kind=kind,
            variant=variant,
            turns=tuple(run.episode_turns),
            toolkits=tuple(toolkits),
            initial_state=initial_state,
            path=path.to_dict(),
            teacher=self.teacher.name,
            seed=seed,
            missing_functions=run.missing_functions,
            request_keys=tuple(k for k in run.request_keys if k),
        )

    def _unrelated_toolkit(self, path: SignaturePath, rng: random.Random) -> str:
        """A toolkit none of whose functions can serve the query: it holds none of the asked functions, and
        neither the toolkit nor any of its functions shares a category with them (a toolkit's class category
        can differ from its functions' own, e.g. once the teacher labelled them)."""
        asked = self._specs(path.turns[0])
        asked_names = {spec.name for spec in asked}
        categories = {spec.category or "misc" for spec in asked}
        own = {toolkit_of(spec) for spec in asked}

        def unrelated(name: str, klass: type[Toolkit]) -> bool:
            functions = set(klass.function_names())
            held = {self.graph.spec(f).category or "misc" for f in functions if f in self.graph.graph}
            return (
                name not in own
                and not functions & asked_names
                and not ({klass.category or "misc"} | held) & categories
                and not getattr(klass, "evaluation_only", False)
            )

        options = sorted(name for name, klass in self.registry.items() if unrelated(name, klass))
        if not options:
            raise _Rejected(
                "no_unrelated_toolkit",
                f"every toolkit shares a category with {sorted(asked_names)} (categories {sorted(categories)}); "
                "irrelevance rows need toolkits of other categories: give spec-only functions a `category` "
                "(in the spec file, with `magnet label`, or from a model teacher)",
            )
        return rng.choice(options)


def withheld_functions(path: SignaturePath) -> tuple[str, ...]:
    """The functions a ``miss_func`` turn withholds: those of the turn after it not used in any earlier turn."""
    for index, label in enumerate(path.labels):
        if label == "miss_func" and index + 1 < len(path.turns):
            earlier = {name for turn in path.turns[:index] for name in turn}
            return tuple(name for name in path.turns[index + 1] if name not in earlier)
    return ()


class _Run:
    """The state of one episode being translated (history, turns, hidden functions, request keys)."""

    def __init__(self, translator: Translator, env: Environment, seed: int):
        self.translator = translator
        self.env = env
        self.seed = seed
        self.history: list[TurnRecord] = []
        self.episode_turns: list[EpisodeTurn] = []
        self.missing_functions: dict[str, list[str]] = {}
        self.request_keys: list[str] = []

    def _inputs(self, specs: Sequence[FunctionSpec], **extra: Any) -> TranslateInputs:
        return TranslateInputs(
            functions=tuple(specs),
            history=tuple(self.history),
            state=self.env.state(),
            avoid=tuple(sorted(self.env.hidden)),
            **extra,
        )

    async def _ask(self, step, inputs: TranslateInputs, validate=None) -> Any:
        # The turn's seed is the request's sampling seed: a turn started over asks again with another one, so a
        # sampling model (and the offline backend) can answer differently, and the cache keeps both answers.
        result: StepResult = await run_step(
            self.translator.teacher,
            step,
            inputs,
            max_attempts=self.translator.config.max_attempts,
            validate=validate,
            seed=self.seed,
        )
        self.request_keys.append(result.completion.request_key)
        return result.value

    async def turns(self, path: SignaturePath, variant: str) -> None:
        withheld = withheld_functions(path)
        self.env.hidden = set(withheld)  # absent from the tools from the start, as in BFCL's miss_func
        index = 0
        while index < len(path.turns):
            label = path.labels[index]
            if label and index + 1 >= len(path.turns):
                raise _Rejected("split_without_next_turn", f"the {label} turn is the last one of path {path.id}")
            served = index + 1 if label else index
            specs = self.translator._specs(path.turns[served])
            links = nested_links(path, self.translator.graph, served)
            await self._with_turn_retries(label, specs, variant, withheld, links)
            index += 2 if label else 1

    async def _one_turn(
        self,
        label: str,
        specs: Sequence[FunctionSpec],
        variant: str,
        withheld: tuple[str, ...],
        links: tuple[NestedLink, ...] = (),
    ) -> None:
        if label == "miss_param":
            await self._miss_param(specs, links)
        elif label == "miss_func":
            await self._miss_func(specs, withheld, links)
        else:
            query = await self._ask(BACK_TRANSLATE, self._inputs(specs, variant=variant, nested=links))
            await self._reference_turn(query, specs, query, variant=variant, links=links)

    async def _with_turn_retries(
        self,
        label: str,
        specs: Sequence[FunctionSpec],
        variant: str,
        withheld: tuple[str, ...],
        links: tuple[NestedLink, ...] = (),
    ) -> None:
        """Translate a turn; when no usable calls come back (or a nested value is stated outright), start the
        turn over from its query with another seed (``turn_attempts`` in all). A model already saw the error on
        every retry of its step; starting the turn over lets the query change too (the offline backend's only way
        to pick other values)."""
        attempts = self.translator.config.turn_attempts
        for attempt in range(attempts):
            point = self.env.snapshot()
            saved = (list(self.history), list(self.episode_turns), dict(self.missing_functions), set(self.env.hidden))
            try:
                await self._one_turn(label, specs, variant, withheld, links)
                return
            except (StepError, _TurnFailed):
                self.env.restore(point)
                self.history, self.episode_turns, self.missing_functions, self.env.hidden = (
                    saved[0],
                    saved[1],
                    saved[2],
                    saved[3],
                )
                if attempt + 1 == attempts:
                    raise
                self.seed = random.Random(f"{self.seed}:retry:{attempt}").randrange(2**31)

    async def _miss_param(self, specs: Sequence[FunctionSpec], links: tuple[NestedLink, ...] = ()) -> None:
        rng = random.Random(f"{self.seed}:miss_param:{len(self.episode_turns)}")
        nested = {(link.target, name) for link in links for name in link.parameters}
        # A nested value is never the user's to give: leave out another one.
        required = [name for name in specs[0].required if (specs[0].name, name) not in nested]
        if not required:
            raise _Rejected("split_impossible", f"{specs[0].name} has no required parameter to leave out")
        missing = (rng.choice(required),)
        asking = await self._ask(BACK_TRANSLATE, self._inputs(specs, split="miss_param", missing=missing, nested=links))
        self.episode_turns.append(EpisodeTurn(asking, label="miss_param", missing=missing))
        self.history.append(TurnRecord(asking))
        supplying = await self._ask(
            BACK_TRANSLATE, self._inputs(specs, split="supply_param", missing=missing, nested=links)
        )
        await self._reference_turn(supplying, specs, f"{asking}\n{supplying}", links=links)

    async def _miss_func(
        self, specs: Sequence[FunctionSpec], withheld: tuple[str, ...], links: tuple[NestedLink, ...] = ()
    ) -> None:
        if not withheld:
            raise _Rejected("split_impossible", "every function of the turn after the miss_func turn was used before")
        asking = await self._ask(BACK_TRANSLATE, self._inputs(specs, split="miss_func", nested=links))
        self.episode_turns.append(EpisodeTurn(asking, label="miss_func", missing=withheld))
        self.history.append(TurnRecord(asking))
        # BFCL: the functions are absent from the start and added at the follow-up turn.
        self.missing_functions[str(len(self.episode_turns))] = list(withheld)
        self.env.hidden -= set(withheld)
        await self._reference_turn(FUNCTIONS_ADDED_QUERY, specs, asking, links=links)

    async def irrelevant_turn(self, asked: Sequence[FunctionSpec]) -> None:
        query = await self._ask(BACK_TRANSLATE, self._inputs(asked, split="miss_func"))
        self.episode_turns.append(
            EpisodeTurn(
                query, functions=tuple(s.name for s in asked), label="irrelevance", missing=tuple(s.name for s in asked)
            )
        )

    async def _reference_turn(
        self,
        query: str,
        specs: Sequence[FunctionSpec],
        request: str,
        variant: str = "",
        links: tuple[NestedLink, ...] = (),
    ) -> None:
        """Forth-translate ``request`` into calls of ``specs``, execute them, and record the turn as ``query``.

        The teacher answers in rounds: each answer's calls run at once, and while some function of the turn has
        not been called, it is asked again with the outputs of this round so far (a nested call takes its value
        from one of them). Then the turn's nested values must not appear in ``request``."""
        executed: list[CallResult] = []
        earlier = {format_call(call) for turn in self.history for call in turn.calls}
        names = {spec.name for spec in specs}
        for round_number in range(len(names)):
            remaining = names - {result.call.name for result in executed}
            batch: list[CallResult] = []

            async def validate(
                calls: tuple[FunctionCall, ...] | None, remaining=remaining, first=not round_number, batch=batch
            ) -> None:
                if not calls and not first and remaining <= {link.target for link in links if link.same_turn}:
                    raise _TurnFailed(
                        "nested_value_unavailable",
                        f"no call for {sorted(remaining)}: this round's outputs do not give the value it needs",
                    )
                if not calls:
                    raise AnswerError(f"the message asks for {sorted(remaining)}; write their calls")
                if not {call.name for call in calls} & remaining:
                    raise AnswerError(f"the message still asks for {sorted(remaining)}; write those calls now")
                if first and variant == "parallel" and len(calls) < 2:
                    raise AnswerError("the message asks for several values: make two or three calls")
                made = earlier | {format_call(result.call) for result in executed}
                repeated = [format_call(call) for call in calls if format_call(call) in made]
                if repeated:
                    raise AnswerError(f"{repeated[0]} was already called; use new values")
                if self.translator.simulator is not None:
                    await self.translator.simulator.prepare(calls)
                point = self.env.snapshot()
                results = await self.env.execute_async(calls)
                failed = [result for result in results if not result.ok]
                if failed:
                    self.env.restore(point)
                    raise AnswerError(f"{failed[0].call.to_text()} failed when executed: {failed[0].error}")
                batch[:] = results

            inputs = self._inputs(
                specs,
                query=request,
                variant=variant,
                round_calls=tuple(result.call for result in executed),
                round_outputs=tuple(result.content for result in executed),
            )
            await self._ask(FORTH_TRANSLATE, inputs, validate=validate)
            executed.extend(batch)
            if names <= {result.call.name for result in executed}:
                break
        skipped = sorted(names - {result.call.name for result in executed})
        if skipped:
            raise StepError(
                f"forth_translate: the reference never called {skipped}", step="forth_translate", attempts=len(names)
            )
        calls = tuple(result.call for result in executed)
        outputs = tuple(result.content for result in executed)
        nested = self._check_nested(request, links, executed)
        self.episode_turns.append(
            EpisodeTurn(query, calls, outputs, functions=tuple(spec.name for spec in specs), nested=nested)
        )
        self.history.append(TurnRecord(query, calls, outputs))

    def _check_nested(
        self, request: str, links: tuple[NestedLink, ...], results: Sequence[CallResult]
    ) -> tuple[str, ...]:
        """Per link, ``source>target:implicit`` (the target took a value only the source's output gave, and the
        request never states it), ``:echoed`` (a value the source was given and returned: stated once, for the
        source) or ``:unlinked`` (the target's value came from elsewhere). A value only the source's output gave
        that the request states fails the turn (``explicit_nested_value``)."""
        earlier = [
            CallResult(call, None, content=output)
            for turn in self.history
            for call, output in zip(turn.calls, turn.outputs, strict=False)
        ]
        found = []
        for link in links:
            for position, result in enumerate(results):
                if result.call.name != link.target:
                    continue
                before = results[:position] if link.same_turn else earlier
                source = next((r for r in reversed(before) if r.call.name == link.source), None)
                values, echoed = nested_values(link, result.call, source)
                stated = {} if echoed else {name: value for name, value in values.items() if occurs(value, request)}
                if stated:
                    name, value = next(iter(stated.items()))
                    raise _TurnFailed(
                        "explicit_nested_value",
                        f"the query states {result.call.name}'s {name}={value!r}, which {link.source}'s output gives",
                    )
                kind = "echoed" if echoed else "implicit" if values else "unlinked"
                found.append(f"{link.source}>{link.target}:{kind}")
                break
        return tuple(found)
