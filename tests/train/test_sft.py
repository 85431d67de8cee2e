"""SFT through TRL's SFTTrainer on Magnet-tokenized rows: labels on exactly the assistant turns in both tool
formats; dataset loading errors that name the dataset; packing refused where it would be wrong."""

from __future__ import annotations

import pytest
import torch
from trl import ModelConfig

from magnet.data.mixture import split
from magnet.data.render import render
from magnet.data.schema import sft_dataset
from magnet.errors import DatasetError, MagnetError
from magnet.train.config import MagnetSFTConfig, ScriptArguments
from magnet.train.loading import last_complete_checkpoint, load_datasets
from magnet.train.sft import build_sft_trainer
from magnet.train.templates import assistant_pieces, masked_spans, training_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_folder(tmp_path_factory, sft_rows):
    folder = tmp_path_factory.mktemp("sft-data") / "sft"
    split(sft_dataset(sft_rows), 2, seed=0).save_to_disk(str(folder))
    return folder


def sft_args(tmp_path, **overrides) -> MagnetSFTConfig:
    base = dict(
        output_dir=str(tmp_path),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        max_length=None,
        per_device_train_batch_size=2,
        dataset_num_proc=None,
    )
    return MagnetSFTConfig(**{**base, **overrides})


@pytest.mark.parametrize("tool_format", ["native", "bfcl_prompt"])
def test_labels_are_exactly_every_assistant_turn(
    tmp_path, sft_folder, sft_rows, tiny_model_dir, tokenizer, tool_format
):
    trainer = build_sft_trainer(
        ScriptArguments(datasets=[str(sft_folder)], tool_format=tool_format),
        sft_args(tmp_path, shuffle_dataset=False),
        ModelConfig(model_name_or_path=tiny_model_dir, dtype="float32"),
    )
    template = training_template(tokenizer)
    by_id = {row["id"]: row for row in sft_rows}
    train = trainer.train_dataset
    ids_in_order = [row["id"] for row in split(sft_dataset(sft_rows), 2, seed=0)["train"]]
    assert len(train) == len(ids_in_order)
    for example, row_id in zip(train, ids_in_order, strict=True):
        labels = example["labels"]
        trained = [
            tokenizer.decode(span).strip() for span in masked_spans(example["input_ids"], [x != -100 for x in labels])
        ]
        messages, tools = render(by_id[row_id], tool_format)
        expected = [piece.strip() for piece in assistant_pieces(tokenizer, messages, tools, template)]
        assert trained == expected, row_id
        assert all(piece.endswith("<|im_end|>") for piece in trained)
        assert not any("<tool_response>" in piece or "<|im_start|>user" in piece for piece in trained)


def test_lora_trains_only_the_adapter(tmp_path, sft_folder, tiny_model_dir):
    trainer = build_sft_trainer(
        ScriptArguments(datasets=[str(sft_folder)]),
        sft_args(tmp_path, max_steps=2, logging_steps=1, save_strategy="no"),
        ModelConfig(
            model_name_or_path=tiny_model_dir,
            dtype="float32",
            use_peft=True,
            lora_r=4,
            lora_alpha=8,
            lora_target_modules=["q_proj", "v_proj"],
        ),
    )
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    trainer.train()
    assert len([h for h in trainer.state.log_history if "loss" in h]) == 2


def test_dataset_weights_take_a_share(sft_folder):
    train, evaluation = load_datasets(
        ScriptArguments(datasets=[str(sft_folder), str(sft_folder)], dataset_weights=[1.0, 0.5]), ["messages"], 0
    )
    full = len(load_datasets(ScriptArguments(datasets=[str(sft_folder)]), ["messages"], 0)[0])
    assert len(train) == full + round(full * 0.5)
    assert evaluation is not None and len(evaluation) == 4


def test_loading_errors_name_the_dataset(tmp_path, sft_folder):
    with pytest.raises(MagnetError, match=r"dataset .*no-such-folder: no such folder \(a save_to_disk folder"):
        load_datasets(ScriptArguments(datasets=[str(tmp_path / "no-such-folder")]), ["messages"], 0)
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['chosen'\]"):
        load_datasets(ScriptArguments(datasets=[str(sft_folder)]), ["prompt", "chosen"][1:], 0)
    with pytest.raises(MagnetError, match="has no split 'validation'"):
        load_datasets(ScriptArguments(datasets=[str(sft_folder)], train_split="validation"), ["messages"], 0)
    with pytest.raises(MagnetError, match="no datasets"):
        load_datasets(ScriptArguments(), ["messages"], 0)


def test_packing_without_flash_attention_is_refused(tmp_path, sft_folder, tiny_model_dir):
    with pytest.raises(MagnetError, match="packed rows attend to each other"):
        build_sft_trainer(
            ScriptArguments(datasets=[str(sft_folder)]),
            sft_args(tmp_path, packing=True, max_length=2048),
            ModelConfig(model_name_or_path=tiny_model_dir, attn_implementation="sdpa"),
        )


def test_an_incomplete_checkpoint_is_not_resumed_from(tmp_path):
    (tmp_path / "checkpoint-2").mkdir()
    (tmp_path / "checkpoint-2" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-4").mkdir()  # cut short by a kill: no trainer_state.json
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-2")


@pytest.mark.parametrize("max_length", [None, 3072])  # 3072: rows cut by Magnet, not TRL, when padding-free
def test_padding_free_gives_the_padded_loss_and_gradients(
    tmp_path, sft_folder, tiny_model_dir, float64_rms_norm, float64_log_probs, max_length
):
    """TRL's padding_free puts a batch's rows in one sequence with their boundaries (FlashAttention-2's cu_seqlens;
    on SDPA, Magnet's attention runs each row on the causal kernel, ``magnet.train.attention``). On
    Magnet's multi-turn rows with assistant-only labels, in float64, the loss and every gradient must be the
    padded batch's."""
    results = {}
    for padding_free in (False, True):
        trainer = build_sft_trainer(
            ScriptArguments(datasets=[str(sft_folder)], tool_format="bfcl_prompt"),
            sft_args(
                tmp_path / str(padding_free), padding_free=padding_free, shuffle_dataset=False, max_length=max_length
            ),
            ModelConfig(model_name_or_path=tiny_model_dir, dtype="float32", attn_implementation="sdpa"),
        )
        model = trainer.model.to(torch.float64)
        # padding-free rows run on magnet_sdpa, one causal attention per row
        assert model.config._attn_implementation == ("magnet_sdpa" if padding_free else "sdpa")
        batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
        assert ("position_ids" in batch and "cu_seq_lens_q" in batch) == padding_free
        if padding_free:  # all ones: transformers then builds no block-diagonal mask magnet_sdpa would not read
            assert batch["attention_mask"].all()
        model.train()
        model.zero_grad()
        loss = trainer.compute_loss(model, batch)
        loss.backward()
        grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
        results[padding_free] = (loss.item(), grads, batch)
    (padded_loss, padded_grads, padded), (free_loss, free_grads, free) = results[False], results[True]
    assert free["input_ids"].shape[0] == 1 and free["input_ids"].numel() <= padded["input_ids"].numel()
    if max_length is None:
        assert free["input_ids"].numel() < padded["input_ids"].numel()  # the padding is gone
    else:  # cut as TRL cuts the padded rows
        assert padded["input_ids"].shape[1] == max_length and free["input_ids"].numel() <= 3 * max_length
    assert (free["labels"] != -100).sum() == (padded["labels"][:, 1:] != -100).sum() > 0  # the same tokens trained
    assert free_loss == pytest.approx(padded_loss, abs=1e-12)
    assert padded_grads.keys() == free_grads.keys() and padded_grads
    for name, grad in padded_grads.items():
        assert torch.allclose(grad, free_grads[name], atol=1e-12, rtol=0), name
