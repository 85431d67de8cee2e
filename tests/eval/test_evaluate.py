"""``evaluate_bfcl`` end to end: the harness checks (reference 100%, silent 0 / 100%), resuming, failed requests,
an OpenAI-compatible endpoint over real HTTP, and a tiny local model."""

from __future__ import annotations

import json

import pytest

from magnet.errors import MagnetError, TeacherError
from magnet.eval.bfcl import evaluate_bfcl, read_results
from magnet.eval.entries import MULTI_TURN, expected_turn_calls, multi_turn_entries
from magnet.eval.runners import ReferenceRunner, SilentRunner, endpoint_runner, local_runner
from magnet.llm.client import Completion
from magnet.testing.loopback import LoopbackServer, Reply
from magnet.tools.calls import format_calls

# Entries whose ground truth BFCL-v3's own checker rejects whatever the answer (each was checked by hand):
UNSCORABLE = {
    # 5 user turns, 6 ground-truth turns: BFCL's runner fails it as force-terminated for every model.
    "multi_turn_base_154",
    # the answer names a function the doc does not have / lacks a parameter the doc requires / has one it lacks
    "simple_363",
    "live_multiple_862-181-3",
    "live_multiple_964-207-0",
    "javascript_41",
    # a required array parameter whose only accepted value is "" (a string)
    "live_simple_106-63-0",
    "live_simple_112-68-0",
    # Java: BFCL's tree-sitter parser drops a HashMap's puts; String[] elements keep their quotes; an ArrayList
    # of type `any` reads every element as a string while the answer has ints and booleans
    *(f"java_{n}" for n in (1, 35, 36, 65, 67, 68, 78, 83, 85, 86, 89, 90, 91)),
}


def _failed_ids(out_dir) -> set[str]:
    return {r["id"] for path in (out_dir / "results").glob("*.jsonl") for r in read_results(path) if not r["valid"]}


@pytest.mark.slow
@pytest.mark.parametrize("tool_format", ["bfcl_prompt", "native"])
def test_reference_runner_scores_every_scorable_entry(tmp_path, tool_format):
    """All 4,441 BFCL-v3 entries (800 multi-turn, 3,641 single-turn): the ground truth, rendered, decoded,
    executed and checked by bfcl_eval, passes everywhere except the entries BFCL's own checker cannot pass."""
    result = evaluate_bfcl(ReferenceRunner(tool_format=tool_format), tmp_path, progress=False)
    assert sum(score.count for score in result.scores.values()) == 4441
    assert _failed_ids(tmp_path) == UNSCORABLE
    for category in ("multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context", "multiple"):
        assert result.scores[category].accuracy == 1.0
    assert (
        result.scores["multi_turn_base"].count == 200 and round(result.scores["multi_turn_base"].accuracy * 200) == 199
    )


def test_silent_runner_scores_zero_on_calls_and_full_on_irrelevance(tmp_path):
    result = evaluate_bfcl(
        SilentRunner(),
        tmp_path,
        categories=["multi_turn", "simple", "irrelevance", "live_irrelevance", "live_relevance"],
        limit=25,
        progress=False,
    )
    for category in (*MULTI_TURN, "simple", "live_relevance"):
        assert result.scores[category].accuracy == 0.0, category
    assert result.scores["irrelevance"].accuracy == result.scores["live_irrelevance"].accuracy == 1.0
    record = read_results(tmp_path / "results" / "multi_turn_base.jsonl")[0]
    assert record["error_type"] == "multi_turn:empty_turn_model_response"
    assert record["turns"][0][0]["decode_error"]


def test_results_resume_and_belong_to_one_runner(tmp_path):
    options = {"categories": ["simple", "multi_turn_base"], "limit": 4, "progress": False}
    first = evaluate_bfcl(ReferenceRunner(), tmp_path, **options)
    path = tmp_path / "results" / "multi_turn_base.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # a kill mid-write: one line cut short
    second = evaluate_bfcl(ReferenceRunner(), tmp_path, **options)
    assert sorted(r["id"] for r in read_results(path)) == sorted(json.loads(line)["id"] for line in lines)
    assert second.summary["table2"] == first.summary["table2"]
    with pytest.raises(MagnetError, match=r"holds an evaluation of reference, .* not of silent"):
        evaluate_bfcl(SilentRunner(), tmp_path, **options)
    third = evaluate_bfcl(SilentRunner(), tmp_path, overwrite=True, **options)
    assert third.scores["simple"].accuracy == 0.0
    (tmp_path / "results" / "simple.jsonl").write_text("not json\n{}\n")
    with pytest.raises(MagnetError, match=r"simple.jsonl: line 1 is not a JSON record"):
        evaluate_bfcl(SilentRunner(), tmp_path, **options)


class _Flaky(ReferenceRunner):
    """The reference, but the model request for one entry fails for good."""

    def __init__(self, broken: str):
        super().__init__()
        self.broken = broken

    async def answer(self, request):
        if request.entry_id == self.broken:
            raise TeacherError("connection refused after 7 attempts", cause="connection")
        return await super().answer(request)


def test_a_failed_request_is_not_written_and_runs_again(tmp_path):
    options = {"categories": ["simple"], "limit": 3, "progress": False}
    result = evaluate_bfcl(_Flaky("simple_1"), tmp_path, **options)
    assert set(result.failed) == {"simple_1"}
    assert [r["id"] for r in read_results(tmp_path / "results" / "simple.jsonl")] == ["simple_0", "simple_2"]
    assert result.scores["simple"].count == 2
    result = evaluate_bfcl(ReferenceRunner(), tmp_path, **options)
    assert not result.failed and result.scores["simple"].count == 3 and result.scores["simple"].accuracy == 1.0


def _ground_truth_server(tool_format: str) -> LoopbackServer:
    """A real OpenAI-compatible server answering each multi-turn user turn with its ground truth (found by the
    turn's text), and each tool result with a closing sentence."""
    by_question = {}
    for entry in multi_turn_entries("multi_turn_base")[:5]:
        for turn, messages in enumerate(entry.question):
            if messages:
                by_question[messages[-1]["content"]] = expected_turn_calls(entry, turn)

    def respond(body):
        last = body["messages"][-1]
        calls = by_question.get(last.get("content")) if last["role"] == "user" else None
        if not calls:
            return Reply(content="All done.")
        if tool_format == "native":
            return Reply(tool_calls=[{"name": c.name, "arguments": dict(c.arguments)} for c in calls])
        return Reply(content=format_calls(calls))

    return LoopbackServer(respond)


@pytest.mark.parametrize("tool_format", ["bfcl_prompt", "native"])
def test_endpoint_runner_over_real_http(tmp_path, tool_format):
    with _ground_truth_server(tool_format) as server:
        runner = endpoint_runner("loopback", server.base_url, tool_format=tool_format, max_concurrency=4)
        result = evaluate_bfcl(runner, tmp_path, categories=["multi_turn_base"], limit=5, progress=False)
        bodies = server.received
    assert result.scores["multi_turn_base"].accuracy == 1.0
    assert ("tools" in bodies[0]) == (tool_format == "native")
    if tool_format == "bfcl_prompt":
        assert bodies[0]["messages"][0]["content"].startswith("You are an expert in composing functions.")
        assert any(m["role"] == "tool" for body in bodies for m in body["messages"])


def test_endpoint_runner_maps_dotted_names_back(tmp_path):
    """OpenAI's API refuses '.' in function names: tools go out as math_factorial and answers come back mapped."""

    def respond(body):
        if not body.get("tools"):  # tool_calls: auto's probe without tools
            return Reply(content="OK")
        names = [tool["function"]["name"] for tool in body["tools"]]
        assert all("." not in name for name in names)
        return Reply(tool_calls=[{"name": names[0], "arguments": {}}])

    with LoopbackServer(respond) as server:
        runner = endpoint_runner("loopback", server.base_url, tool_format="native")
        evaluate_bfcl(runner, tmp_path, categories=["simple"], limit=3, progress=False)
    assert runner.teacher.tool_call_mode == "native"
    records = read_results(tmp_path / "results" / "simple.jsonl")
    dotted = [r for r in records if "." in next(iter(r["calls"][0]))]
    assert dotted, "the first entries of simple include dotted function names"


@pytest.mark.slow
@pytest.mark.parametrize("tool_format", ["bfcl_prompt", "native"])
def test_tiny_local_model_end_to_end(tmp_path, tiny_model_dir, tool_format):
    """A tiny transformers model through the whole loop on CPU: generation, decoding, execution and scoring run;
    the score is whatever it is."""
    runner = local_runner(str(tiny_model_dir), tool_format=tool_format, max_new_tokens=8, batch_size=4)
    categories = ["simple", "live_irrelevance", "multi_turn_base", "multi_turn_miss_func"]
    result = evaluate_bfcl(runner, tmp_path, categories=categories, limit=2, concurrency=4, progress=False)
    assert {name: score.count for name, score in result.scores.items()} == dict.fromkeys(categories, 2)
    for category in categories:
        for record in read_results(tmp_path / "results" / f"{category}.jsonl"):
            steps = [s for turn in record["turns"] for s in turn] if "turns" in record else [record["step"]]
            assert all(step["prompt_tokens"] > 0 and step["completion_tokens"] > 0 for step in steps)
    assert (tmp_path / "summary.md").read_text().startswith("| Model |")


def test_completion_text_alone_is_no_call_in_native_format(tmp_path):
    from magnet.eval.loop import decode_answer

    assert decode_answer(Completion(text="[cd(folder='x')]"), "native", "Python") == ([], "no tool call in the answer")
    calls, error = decode_answer(Completion(text="[cd(folder='x')]"), "bfcl_prompt", "Python")
    assert error is None and calls[0].arguments == {"folder": "x"}


def test_an_unreadable_tool_call_is_a_wrong_answer_not_an_outage(tmp_path):
    """An endpoint answer whose tool-call arguments are not JSON (retried, then given up) scores the entry as
    wrong instead of leaving it for a rerun that would get the same answer."""
    with LoopbackServer(lambda body: Reply(tool_calls=[{"name": "cd", "arguments": "{not json"}])) as server:
        runner = endpoint_runner("loopback", server.base_url, tool_format="native")
        runner.teacher.max_retries = 1
        result = evaluate_bfcl(runner, tmp_path, categories=["multi_turn_base", "simple"], limit=1, progress=False)
    assert not result.failed
    record = read_results(tmp_path / "results" / "multi_turn_base.jsonl")[0]
    assert not record["valid"] and "could not be read" in record["turns"][0][0]["decode_error"]
    assert read_results(tmp_path / "results" / "simple.jsonl")[0]["error_type"] == "ast_decoder:decoder_failed"


class _Huge(ReferenceRunner):
    """Answers with a hexadecimal literal of 4,400 digits: it parses, but Python will not write it back as text."""

    async def answer(self, request):
        if request.step > 0:
            return Completion(text="Done.")
        value = "0x" + "f" * 4400
        name = request.expected[0].name if request.expected else "cd"
        return Completion(text=f"[{name}(folder={value})]")


def test_an_answer_no_harness_step_can_write_is_scored_wrong_and_the_evaluation_goes_on(tmp_path):
    """One model answer may not stop an evaluation: the huge literal fails to decode (as in BFCL), the entries
    count as wrong with the reason, and every entry is scored."""
    result = evaluate_bfcl(_Huge(), tmp_path, categories=["simple", "multi_turn_base"], limit=2, progress=False)
    assert not result.failed and result.scores["simple"].count == result.scores["multi_turn_base"].count == 2
    assert result.scores["simple"].accuracy == result.scores["multi_turn_base"].accuracy == 0.0
    record = read_results(tmp_path / "results" / "simple.jsonl")[0]
    assert "cannot be written back" in record["error"] and record["error_type"] == "ast_decoder:decoder_failed"
    step = read_results(tmp_path / "results" / "multi_turn_base.jsonl")[0]["turns"][0][0]
    assert "cannot be written back" in step["decode_error"] and step["calls"] == []


def test_native_arguments_no_json_reader_takes_are_a_wrong_answer(tmp_path):
    """The same number as a tool call's JSON arguments, from a real HTTP endpoint: not an outage, a wrong answer."""
    arguments = '{"folder": ' + "9" * 4400 + "}"
    with LoopbackServer(lambda body: Reply(tool_calls=[{"name": "cd", "arguments": arguments}])) as server:
        runner = endpoint_runner("loopback", server.base_url, tool_format="native")
        runner.teacher.max_retries = 1
        result = evaluate_bfcl(runner, tmp_path, categories=["simple"], limit=1, progress=False)
    assert not result.failed and result.scores["simple"].accuracy == 0.0


def test_a_failure_while_scoring_counts_the_entry_wrong_with_the_reason(tmp_path, monkeypatch):
    """Whatever fails after the model answered (here BFCL's checker, made to raise) scores that entry wrong and
    names the failure; the other entries are scored as usual."""
    from magnet.eval import checkers

    real = checkers.ast_check
    calls = iter(range(100))

    def flaky(*args, **kwargs):
        if next(calls) == 1:
            raise RuntimeError("the checker broke on this answer")
        return real(*args, **kwargs)

    monkeypatch.setattr(checkers, "ast_check", flaky)
    result = evaluate_bfcl(ReferenceRunner(), tmp_path, categories=["simple"], limit=3, progress=False)
    records = {r["id"]: r for r in read_results(tmp_path / "results" / "simple.jsonl")}
    assert len(records) == 3 and result.scores["simple"].count == 3
    broken = [r for r in records.values() if not r["valid"]]
    assert len(broken) == 1 and broken[0]["error_type"] == "answer_failed"
    assert "RuntimeError: the checker broke" in broken[0]["error"]


def test_another_model_with_the_same_folder_name_is_refused_not_given_its_scores(tmp_path, tiny_model_dir):
    """runs/a/mdpo and runs/b/mdpo share the runner name hf:mdpo and the default --out: the second must not find
    the first one's entries done. The fingerprint (the folder's weights and configs, the generation settings)
    refuses it in one line; --overwrite starts again; the same model resumes."""
    import shutil

    from magnet.eval.runners import runner_fingerprint

    a, b = tmp_path / "a" / "mdpo", tmp_path / "b" / "mdpo"
    shutil.copytree(tiny_model_dir, a)
    shutil.copytree(tiny_model_dir, b)
    weights = next(b.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1  # one bit of one weight: another model
    weights.write_bytes(bytes(data))
    first, second = local_runner(str(a)), local_runner(str(b))
    assert first.name == second.name and runner_fingerprint(first) != runner_fingerprint(second)
    assert runner_fingerprint(local_runner(str(a))) == runner_fingerprint(first)  # the same model: the same print
    out = tmp_path / "eval"
    options = {"categories": ["simple"], "limit": 1, "progress": False}
    evaluate_bfcl(first, out, **options)
    with pytest.raises(MagnetError) as refused:
        evaluate_bfcl(second, out, **options)
    message = str(refused.value)
    assert "\n" not in message and f"{a.resolve()} (weights" in message and f"not of {b.resolve()}" in message
    assert "--overwrite" in message
    with pytest.raises(MagnetError, match="holds an evaluation of"):  # the same model asked otherwise
        evaluate_bfcl(local_runner(str(a), max_new_tokens=7), out, **options)
    evaluate_bfcl(first, out, **options)  # the same model and settings resume
    evaluate_bfcl(second, out, overwrite=True, **options)
    assert json.loads((out / "run.json").read_text())["fingerprint"] == runner_fingerprint(second)


def test_an_endpoint_is_its_url_its_served_model_and_its_settings():
    from magnet.eval.runners import runner_fingerprint

    one = runner_fingerprint(endpoint_runner("m", "http://127.0.0.1:8000/v1"))
    assert one == runner_fingerprint(endpoint_runner("m", "http://127.0.0.1:8000/v1/"))
    assert one != runner_fingerprint(endpoint_runner("m", "http://127.0.0.1:8001/v1"))
    assert one != runner_fingerprint(endpoint_runner("m", "http://127.0.0.1:8000/v1", max_tokens=64))
    assert one != runner_fingerprint(endpoint_runner("m", "http://127.0.0.1:8000/v1", tool_format="native"))


def test_overwrite_empties_only_a_folder_holding_an_evaluation(tmp_path):
    folder = tmp_path / "not-an-eval"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(MagnetError, match="not a Magnet evaluation"):
        evaluate_bfcl(SilentRunner(), folder, categories=["simple"], limit=1, overwrite=True, progress=False)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]


MALFORMED_ANSWER = (
    '<tool_call>{"name": "ls", "arguments": {}}</tool_call>\n'
    '<tool_call>{"name": "cd", "arguments": {"folder": </tool_call>'
)


@pytest.mark.slow
def test_a_malformed_tool_call_is_scored_by_one_rule_local_or_served(tmp_path, tiny_model_dir, monkeypatch):
    """A well-formed call beside a malformed one: the local model (its <tool_call> blocks) and the endpoint (its
    tool_calls) both void the whole answer, execute nothing, and record why; the two records agree."""
    local = local_runner(tiny_model_dir, tool_format="native", max_new_tokens=4)
    # whatever the tiny model generates, it "wrote" this:
    monkeypatch.setattr(local.teacher.tokenizer, "decode", lambda *args, **kwargs: MALFORMED_ANSWER)
    calls = [{"name": "ls", "arguments": "{}"}, {"name": "cd", "arguments": '{"folder": '}]
    with LoopbackServer(lambda body: Reply(tool_calls=calls)) as server:
        served = endpoint_runner("loopback", server.base_url, tool_format="native")
        served.teacher.max_retries = 1
        steps = []
        for name, runner in (("local", local), ("served", served)):
            evaluate_bfcl(runner, tmp_path / name, categories=["multi_turn_base"], limit=1, progress=False)
            steps.append(read_results(tmp_path / name / "results" / "multi_turn_base.jsonl")[0]["turns"][0][0])
    for step in steps:
        assert step["calls"] == [] and step["results"] == []
        assert step["decode_error"].startswith("the answer could not be read")
    assert "a malformed tool call" in steps[0]["decode_error"] and "malformed_tool_call" in steps[1]["decode_error"]
