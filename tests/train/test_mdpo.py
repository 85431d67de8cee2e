"""MultiTurnDPOTrainer: masks on exactly the assistant turns of both sides, the loss against TRL's own DPOTrainer
(single-turn pairs) and against a direct computation from the model's logits (multi-turn pairs, each variant,
the branch turn's segment and the NLL over the whole positive trajectory), and training."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM
from trl import DPOConfig, DPOTrainer

from magnet.data.render import render
from magnet.data.schema import preference_dataset
from magnet.errors import MagnetError
from magnet.train.config import MDPOConfig
from magnet.train.mdpo import MultiTurnDPOTrainer, dmpo_weight, turn_weights
from magnet.train.templates import assistant_pieces, masked_spans, training_template

pytestmark = pytest.mark.slow

CPU = dict(
    use_cpu=True,
    bf16=False,
    activation_checkpointing=False,
    report_to="none",
    save_strategy="no",
    logging_steps=1,
    seed=0,
    max_length=None,
    per_device_train_batch_size=2,
    per_device_eval_batch_size=2,
    dataloader_drop_last=False,
)


def mdpo_args(tmp_path, **overrides) -> MDPOConfig:
    return MDPOConfig(output_dir=str(tmp_path), **{**CPU, **overrides})


def load(model_dir, dtype=torch.float32):
    return AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)


def perturbed(model, seed=1, scale=0.05):
    """A copy of ``model`` with noise on every weight, so that policy and reference differ."""
    other = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in other.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype) * scale)
    return other


def first_batch(trainer):
    return next(iter(trainer.get_train_dataloader()))


# -- weights --------------------------------------------------------------------------------------------------


def test_dmpo_weights_favour_early_turns_and_tend_to_uniform_length_discount():
    weights = [dmpo_weight(t, 4, 0.7) for t in range(4)]
    assert weights[0] == pytest.approx(1.0) and weights == sorted(weights, reverse=True)
    assert [dmpo_weight(t, 4, 1.0) for t in range(4)] == [1.0, 0.75, 0.5, 0.25]
    assert dmpo_weight(1, 4, 0.999999) == pytest.approx(0.75, abs=1e-5)


def test_turn_weights_are_zero_off_the_assistant():
    turns = [-1, 0, 0, -1, -1, 1, 1, -1, 2]
    assert turn_weights(turns, 0, "sigmoid", 1.0) == [0, 1, 1, 0, 0, 1, 1, 0, 1]
    assert turn_weights(turns, 2, "segment", 1.0) == [0, 0, 0, 0, 0, 0, 0, 0, 1]
    assert turn_weights(turns, 1, "segment", 1.0) == [0, 0, 0, 0, 0, 1, 1, 0, 0]  # the branch turn only
    assert turn_weights(turns, 1, "segment", 1.0, segment_turns=0) == [0, 0, 0, 0, 0, 1, 1, 0, 1]
    assert turn_weights(turns, 0, "segment", 1.0, segment_turns=0) == turn_weights(turns, 0, "sigmoid", 1.0)
    dmpo = turn_weights(turns, 0, "dmpo", 0.5)
    assert dmpo[1] == dmpo[2] == 1.0 and dmpo[5] == pytest.approx(dmpo_weight(1, 3, 0.5)) and dmpo[0] == 0
    # turns are counted over the whole conversation: a continuation that starts at turn 2 of 4
    assert turn_weights([-1, 2, -1, 3], 2, "dmpo", 0.5)[1] == pytest.approx(dmpo_weight(2, 4, 0.5))


@pytest.mark.parametrize(
    "overrides",
    [{"loss_type": ["ipo"]}, {"ld_alpha": 0.5}, {"use_weighting": True}, {"f_divergence_type": "js_divergence"}],
)
def test_trl_loss_options_it_does_not_implement_are_refused(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, overrides
):
    with pytest.raises(MagnetError, match="not supported by MultiTurnDPOTrainer"):
        MultiTurnDPOTrainer(
            load(tiny_model_dir),
            args=mdpo_args(tmp_path, **overrides),
            train_dataset=preference_dataset(preference_rows[:2]),
            processing_class=tokenizer,
        )


# -- masks ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_trained_tokens_are_exactly_the_assistant_turns_of_both_sides(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, tool_format
):
    trainer = MultiTurnDPOTrainer(
        load(tiny_model_dir),
        args=mdpo_args(tmp_path, per_device_train_batch_size=len(preference_rows)),
        train_dataset=preference_dataset(preference_rows),
        processing_class=tokenizer,
        tool_format=tool_format,
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    template = training_template(tokenizer)
    n = len(preference_rows)
    checked_turns = 0
    for index, row in enumerate(trainer.train_dataset):
        pair = next(p for p in preference_rows if p["id"] == row["id"])
        for side, offset in (("chosen", 0), ("rejected", n)):
            ids = batch["input_ids"][index + offset].tolist()
            mask = batch["completion_mask"][index + offset].tolist()
            trained = [tokenizer.decode(span).strip() for span in masked_spans(ids, mask)]
            messages, tools = render({**pair, "messages": pair["prompt"] + pair[side]}, tool_format)
            pieces = assistant_pieces(tokenizer, messages, tools, template)
            expected = [p.strip() for p in pieces[-len(trained) :]] if trained else []
            # every assistant message of the continuation, and only those, is trained
            assistant_runs = sum(
                1
                for i, m in enumerate(pair[side])
                if m["role"] == "assistant" and (i == 0 or pair[side][i - 1]["role"] != "assistant")
            )
            assert len(trained) == assistant_runs, (row["id"], side)
            assert trained == expected, (row["id"], side)
            assert not any("<tool_response>" in t or "<|im_start|>user" in t for t in trained)
            assert all(t.endswith("<|im_end|>") for t in trained)
            checked_turns += len(trained)
    assert checked_turns > 2 * n  # multi-turn continuations were among them


def test_a_pair_whose_prompt_is_not_a_prefix_is_named(tiny_model_dir, tokenizer, preference_rows, tmp_path):
    bad = dict(preference_rows[0], id="bad-pair")
    # a template that renders the generation prompt differently from the conversation
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.chat_template = training_template(tokenizer).replace(
        "{{- '<|im_start|>assistant\\n' }}", "{{- '<|im_start|>assistant\\n\\n' }}"
    )
    with pytest.raises(MagnetError, match="bad-pair"):
        MultiTurnDPOTrainer(
            load(tiny_model_dir),
            args=mdpo_args(tmp_path),
            train_dataset=preference_dataset([bad]),
            processing_class=tokenizer,
        )


# -- the loss against TRL -------------------------------------------------------------------------------------


def single_turn(pairs):
    """Pairs cut to their first assistant message on each side (a single-turn DPO pair), where those differ."""
    out = []
    for pair in pairs:
        chosen, rejected = pair["chosen"][:1], pair["rejected"][:1]
        if chosen[0]["role"] == rejected[0]["role"] == "assistant" and chosen != rejected:
            out.append({**pair, "chosen": chosen, "rejected": rejected})
    return out


@pytest.mark.parametrize("sft_weight", [0.0, 1.0])
def test_single_turn_loss_equals_trl_dpo_trainer(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, sft_weight, float64_log_probs
):
    pairs = single_turn(preference_rows)[:4]
    assert len(pairs) >= 2
    # float64 models and log-probs (float64_log_probs): the two trainers sum the same log-probs in different
    # orders, which in float32 differs by ~1e-6 from one CPU to another (STACK.md section 7).
    base = load(tiny_model_dir, dtype=torch.float64)
    policy = perturbed(base)
    # sft_on="continuation": TRL's "sft" loss is the NLL of the completion only, not of the whole trajectory.
    ours = MultiTurnDPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(base),
        args=mdpo_args(tmp_path / "ours", sft_weight=sft_weight, sft_on="continuation", per_device_train_batch_size=4),
        train_dataset=preference_dataset(pairs, validate=False),  # a call with no answer yet: a one-step pair
        processing_class=tokenizer,
    )
    trl_args = DPOConfig(
        output_dir=str(tmp_path / "trl"),
        **{**CPU, "per_device_train_batch_size": 4},
        beta=0.1,
        loss_type=["sigmoid", "sft"] if sft_weight else ["sigmoid"],
        loss_weights=[1.0, sft_weight] if sft_weight else None,
    )
    theirs = DPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(base),
        args=trl_args,
        train_dataset=preference_dataset(pairs, validate=False),
        processing_class=tokenizer,
    )
    # Same tokens as TRL's own tokenization of the same rows, and on a single-turn pair every token of the
    # continuation is the assistant's (the template's generation block ends with "<|im_end|>\n"), so our
    # assistant mask is TRL's completion mask.
    for mine, trls in zip(ours.train_dataset, theirs.train_dataset, strict=True):
        for key in ("prompt_ids", "chosen_ids", "rejected_ids"):
            assert mine[key] == trls[key]
        for side in ("chosen", "rejected"):  # one assistant turn, every token of it
            assert min(mine[f"{side}_turns"]) == max(mine[f"{side}_turns"]) == mine["segment_start"]
    batch = ours.data_collator([ours.train_dataset[i] for i in range(len(pairs))])
    ours.model.eval(), theirs.model.eval()
    with torch.no_grad():
        loss_ours = ours.compute_loss(ours.model, batch).item()
        trl_batch = {k: v for k, v in batch.items() if k not in ("token_weights", "sft_mask")}
        loss_trl = theirs.compute_loss(theirs.model, trl_batch).item()
    assert loss_ours == pytest.approx(loss_trl, abs=1e-9)
    assert abs(loss_ours - math.log(2)) > 1e-3  # policy and reference differ: a real comparison


def token_logps(model, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, in float64, from a plain forward of ``model``."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1].double()
    return F.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]


def stock_view(tokenizer, pair, side, tool_format, stock_assistant_turns):
    """``(ids, turns, prompt_len)`` of prompt + side under the stock template (``stock_assistant_turns``)."""
    messages, tools = render({**pair, "messages": pair["prompt"] + pair[side]}, tool_format)
    ids, turns = stock_assistant_turns(tokenizer, messages, tools)
    prompt_messages, _ = render({**pair, "messages": pair["prompt"]}, tool_format)
    prompt = tokenizer.apply_chat_template(
        prompt_messages, tools=tools, add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return ids, turns, len(prompt["input_ids"])


def first_different_turn(pair):
    """The user turn where prompt + chosen and prompt + rejected first differ (the earlier side's turn)."""
    sides = [pair["prompt"] + pair["chosen"], pair["prompt"] + pair["rejected"]]
    index = next(i for i, (a, b) in enumerate(zip(*sides, strict=False)) if a != b)
    return min(sum(m["role"] == "user" for m in side[: index + 1]) - 1 for side in sides)


def direct_loss(policy, reference, tokenizer, pairs, tool_format, variant, stock_assistant_turns, beta=0.1):
    """The mDPO loss from the models' logits and the stock template's assistant spans, written out (no trainer
    code): per-token weights by user turn over the whole conversation, the NLL over ``sft_on``'s tokens."""
    mdpo_loss, gamma = variant["mdpo_loss"], variant.get("dmpo_gamma", 0.7)
    margins, nll_sum, nll_count = [], 0.0, 0
    for pair in pairs:
        branch = pair["meta"].get("branch_turn", first_different_turn(pair))
        assert branch == first_different_turn(pair)
        r = {}
        for side in ("chosen", "rejected"):
            ids, turns, prompt_len = stock_view(tokenizer, pair, side, tool_format, stock_assistant_turns)
            count = sum(m["role"] == "user" for m in pair["prompt"] + pair[side])
            span = variant.get("segment_turns", 1) or count
            weight = []
            for position, t in enumerate(turns):
                if t < 0 or position < prompt_len:
                    weight.append(0.0)
                elif mdpo_loss == "sigmoid":
                    weight.append(1.0)
                elif mdpo_loss == "segment":
                    weight.append(float(branch <= t < branch + span))
                else:
                    weight.append((1 - gamma ** (count - t)) / (1 - gamma**count))
            lp, lr = token_logps(policy, ids), token_logps(reference, ids)
            w = torch.tensor(weight[1:], dtype=torch.float64)
            score = ((lp - lr) * w).sum()
            if variant.get("length_normalize", False):
                score = score / (w > 0).sum()
            r[side] = score
            if side == "chosen":
                first = 0 if variant.get("sft_on", "trajectory") == "trajectory" else prompt_len
                nll = [-lp[i - 1].item() for i, t in enumerate(turns) if t >= 0 and i >= first]
                nll_sum, nll_count = nll_sum + sum(nll), nll_count + len(nll)
        margins.append(r["chosen"] - r["rejected"])
    preference = torch.stack([-F.logsigmoid(beta * m) for m in margins]).mean().item()
    return preference + variant["sft_weight"] * nll_sum / nll_count


@pytest.mark.parametrize(
    "variant",
    [
        {"mdpo_loss": "sigmoid", "sft_weight": 0.0},
        {"mdpo_loss": "sigmoid", "sft_weight": 1.0},
        {"mdpo_loss": "dmpo", "dmpo_gamma": 0.7, "sft_weight": 0.0},
        {"mdpo_loss": "sigmoid", "sft_weight": 1.0, "sft_on": "continuation"},
        {"mdpo_loss": "segment", "sft_weight": 0.5},
        {"mdpo_loss": "segment", "segment_turns": 0, "sft_weight": 0.0},
        {"mdpo_loss": "sigmoid", "length_normalize": True, "sft_weight": 0.0},
    ],
)
@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_multi_turn_loss_equals_a_direct_computation(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, variant, tool_format, float64_log_probs, stock_assistant_turns
):
    multi = [p for p in preference_rows if sum(m["role"] == "assistant" for m in p["chosen"]) > 1]
    pairs = sorted(multi, key=lambda p: len(str(p)))[:2]  # the shortest: every forward pass here is a long one
    # a pair whose first assistant turns are identical, so that 'segment' differs from 'sigmoid'
    shared = min(
        (p for p in preference_rows if len(p["prompt"]) > 1 and len(p["chosen"]) > 1), key=lambda p: len(str(p))
    )
    pairs.append(
        {
            **shared,
            "id": "shared-start",
            "prompt": shared["prompt"][:1],
            "chosen": shared["prompt"][1:] + shared["chosen"],
            "rejected": shared["prompt"][1:] + shared["rejected"],
        }
    )
    base = load(tiny_model_dir, dtype=torch.float64)  # float64: a strict tolerance on any CPU
    policy = perturbed(base)
    trainer = MultiTurnDPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(base),
        args=mdpo_args(tmp_path, per_device_train_batch_size=len(pairs), **variant),
        train_dataset=preference_dataset(pairs),
        processing_class=tokenizer,
        tool_format=tool_format,
    )
    assert len(trainer.train_dataset) == len(pairs)
    assert any(row["segment_start"] > 0 for row in trainer.train_dataset)  # 'segment' differs from 'sigmoid'
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(pairs))])
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch).item()
    order = [next(p for p in pairs if p["id"] == row["id"]) for row in trainer.train_dataset]
    expected = direct_loss(policy, base, tokenizer, order, tool_format, variant, stock_assistant_turns)
    assert loss == pytest.approx(expected, abs=1e-9)


def branching_trainer(tmp_path, name, policy, base, tokenizer, pair, **overrides):
    trainer = MultiTurnDPOTrainer(
        copy.deepcopy(policy),
        ref_model=copy.deepcopy(base),
        args=mdpo_args(tmp_path / name, per_device_train_batch_size=1, **overrides),
        train_dataset=preference_dataset([pair]),
        processing_class=tokenizer,
        tool_format="native",
    )
    trainer.model.eval()
    return trainer


def test_segment_scores_the_branch_turn_of_a_pipeline_pair(
    tiny_model_dir, tokenizer, branching_pair, tmp_path, float64_log_probs, stock_assistant_turns
):
    # A pipeline pair: the whole shared prefix is the prompt, the negative errs at turn 1 of 3 (meta.branch_turn),
    # and turn 2 follows a different history on each side: 'segment' scores turn 1 only, 'sigmoid' turns 1 and 2.
    base = load(tiny_model_dir, dtype=torch.float64)  # float64: a strict tolerance on any CPU
    policy = perturbed(base)
    losses = {}
    for variant in ("sigmoid", "segment"):
        trainer = branching_trainer(tmp_path, variant, policy, base, tokenizer, branching_pair, mdpo_loss=variant)
        with torch.no_grad():
            losses[variant] = trainer.compute_loss(trainer.model, trainer.data_collator([trainer.train_dataset[0]]))
    # Independently: plain float64 forwards, the assistant spans of the stock template's text, turns by counting
    # its user blocks; the continuation's tokens of the scored turns; policy minus reference.
    margins = {"sigmoid": 0.0, "segment": 0.0}
    for side, sign in (("chosen", 1), ("rejected", -1)):
        ids, turns, prompt_len = stock_view(tokenizer, branching_pair, side, "native", stock_assistant_turns)
        ratio = token_logps(policy, ids) - token_logps(base, ids)
        scored = {
            "sigmoid": [i - 1 for i, t in enumerate(turns) if i >= prompt_len and t >= 0],
            "segment": [i - 1 for i, t in enumerate(turns) if i >= prompt_len and t == 1],
        }
        assert set(turns[prompt_len:]) == {-1, 1, 2} and scored["segment"]
        for variant, positions in scored.items():
            margins[variant] += sign * ratio[positions].sum().item()
        if side == "chosen":  # sft_on="trajectory" (the default): every assistant token of prompt + chosen
            lp = token_logps(policy, ids)
            nll = -lp[[i - 1 for i, t in enumerate(turns) if t >= 0]].mean().item()
    expected = {v: -F.logsigmoid(torch.tensor(0.1 * m, dtype=torch.float64)).item() + nll for v, m in margins.items()}
    assert losses["segment"].item() == pytest.approx(expected["segment"], abs=1e-9)
    assert losses["sigmoid"].item() == pytest.approx(expected["sigmoid"], abs=1e-9)
    assert abs(losses["segment"].item() - losses["sigmoid"].item()) > 1e-4


def test_sft_on_trajectory_adds_the_prompts_assistant_tokens_to_the_nll(
    tiny_model_dir, tokenizer, branching_pair, tmp_path, float64_log_probs, stock_assistant_turns
):
    base = load(tiny_model_dir, dtype=torch.float64)
    policy = perturbed(base)
    ids, turns, prompt_len = stock_view(tokenizer, branching_pair, "chosen", "native", stock_assistant_turns)
    assert any(t >= 0 for t in turns[:prompt_len])  # the prompt holds assistant tokens (turn 0's)
    lp = token_logps(policy, ids)  # independent, float64
    expected = {
        "trajectory": -lp[[i - 1 for i, t in enumerate(turns) if t >= 0]].mean().item(),
        "continuation": -lp[[i - 1 for i, t in enumerate(turns) if t >= 0 and i >= prompt_len]].mean().item(),
    }
    nll = {}
    for sft_on in ("trajectory", "continuation"):
        trainer = branching_trainer(tmp_path, sft_on, policy, base, tokenizer, branching_pair, sft_on=sft_on)
        with torch.no_grad():
            trainer.compute_loss(trainer.model, trainer.data_collator([trainer.train_dataset[0]]))
        nll[sft_on] = trainer._metrics["eval"]["nll"][-1]
    assert nll["trajectory"] == pytest.approx(expected["trajectory"], abs=1e-9)
    assert nll["continuation"] == pytest.approx(expected["continuation"], abs=1e-9)
    assert abs(nll["trajectory"] - nll["continuation"]) > 1e-3


@pytest.mark.parametrize("use_lora", [False, True])
def test_precomputed_reference_log_probs_give_the_same_loss(
    tiny_model_dir, tokenizer, preference_rows, tmp_path, use_lora, float64_log_probs
):
    from peft import LoraConfig

    pairs = sorted(preference_rows, key=lambda p: len(str(p)))[:4]
    base = load(tiny_model_dir, dtype=torch.float64)  # float64: a strict tolerance on any CPU
    policy = perturbed(base)
    losses = []
    for precompute in (True, False):
        lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM")
        trainer = MultiTurnDPOTrainer(
            copy.deepcopy(base if use_lora else policy),
            ref_model=None if use_lora else copy.deepcopy(base),
            args=mdpo_args(
                tmp_path / str(precompute),
                precompute_ref_log_probs=precompute,
                per_device_train_batch_size=4,
                mdpo_loss="dmpo",
            ),
            train_dataset=preference_dataset(pairs),
            processing_class=tokenizer,
            peft_config=lora if use_lora else None,
        )
        if use_lora:  # move the adapter away from zero so that policy and reference differ
            with torch.no_grad():
                for name, parameter in trainer.model.named_parameters():
                    if "lora_B" in name:
                        parameter.fill_(0.01)
        examples = [trainer.train_dataset[i] for i in range(len(pairs))]
        assert ("ref_chosen_logps" in examples[0]) == precompute
        batch = trainer.data_collator(examples)
        trainer.model.eval()
        with torch.no_grad():
            losses.append(trainer.compute_loss(trainer.model, batch).item())
    assert losses[0] == pytest.approx(losses[1], abs=1e-9)
