#!/usr/bin/env bash
# The GPU path of the pipeline on one NVIDIA GPU, end to end: offline synthesis, the SFT and mDPO recipes through
# `accelerate launch` in bf16 on a small random Qwen2 (hidden 512, 8 layers; the 14B recipes' code path), BFCL
# evaluation of the trained model with batched generation on the GPU, the learning curve of SmolLM2-135M-Instruct
# (benchmarks/learning.py --size gpu: full fine-tuning in bf16), and the trainer-overhead, prefix-sharing and
# padding-free SFT benchmarks at a size where the GPU's compute dominates. Prints each step's exit status and wall
# time; writes logs and the eval summary under $GPU_CHECK_OUT (default runs/gpu-check). Nothing here is part of
# `make test` (CI has no GPU).
#   bash benchmarks/gpu_check.sh            # from the repository root, with magnet installed (or PYTHONPATH=src)
set -uo pipefail
OUT_DIR=${GPU_CHECK_OUT:-runs/gpu-check}
PY=${PYTHON:-python3}
STEPS=${GPU_CHECK_STEPS:-20}
LAUNCH=${LAUNCH:-accelerate launch}  # e.g. "python3 -m accelerate.commands.launch" where the script is not on PATH
mkdir -p "$OUT_DIR"
export TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
status=0

step() {  # step NAME COMMAND...: run, log to $OUT_DIR/NAME.log, print the exit status and wall time
    local name=$1 started=$SECONDS
    shift
    echo "== $name: $*"
    "$@" >"$OUT_DIR/$name.log" 2>&1
    local rc=$?
    tail -n "${GPU_CHECK_TAIL:-6}" "$OUT_DIR/$name.log"
    echo "== $name: exit $rc after $((SECONDS - started)) s"
    [ $rc -eq 0 ] || status=1
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, transformers, trl, peft, accelerate, datasets; print('torch', torch.__version__, 'cuda', \
torch.version.cuda, '| transformers', transformers.__version__, '| trl', trl.__version__, '| peft', \
peft.__version__, '| accelerate', accelerate.__version__, '| datasets', datasets.__version__)"

step synth $PY -m magnet.cli synth --config recipes/synth/demo.yaml --out "$OUT_DIR/synth"
step model $PY -m magnet.cli tiny-model --out "$OUT_DIR/model" --hidden-size 512 --layers 8
GPU=(--use_cpu false --bf16 true --dtype bfloat16 --max_steps "$STEPS" --save_strategy no --disable_tqdm true)
step sft $LAUNCH --num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no \
    recipes/sft.py --config recipes/tiny/sft.yaml "${GPU[@]}" --model_name_or_path "$OUT_DIR/model" \
    --datasets "$OUT_DIR/synth/datasets/sft" --output_dir "$OUT_DIR/sft"
step mdpo $LAUNCH --num_processes 1 --num_machines 1 --mixed_precision bf16 --dynamo_backend no \
    recipes/mdpo.py --config recipes/tiny/mdpo.yaml "${GPU[@]}" --model_name_or_path "$OUT_DIR/sft" \
    --datasets "$OUT_DIR/synth/datasets/preference" --output_dir "$OUT_DIR/mdpo"
step eval $PY -m magnet.cli eval bfcl --model "$OUT_DIR/mdpo" --categories simple,irrelevance,multi_turn_base \
    --limit 8 --max-new-tokens 32 --batch-size 8 --out "$OUT_DIR/eval" --overwrite --no-progress
GPU_CHECK_TAIL=12 step learning $PY benchmarks/learning.py --size gpu --out "$OUT_DIR/learning"
step overhead $PY benchmarks/trainer_overhead.py --device cuda --hidden 1024 --layers 8 --batch 4 --steps 6
step prefix-sharing $PY benchmarks/prefix_sharing.py --device cuda --hidden 1024 --layers 8 --pairs 16
step prefix-sharing-fa2 $PY benchmarks/prefix_sharing.py --device cuda --hidden 1024 --layers 8 --pairs 16 \
    --attention flash_attention_2
step sft-padding-free $PY benchmarks/sft_padding_free.py --device cuda --hidden 1024 --layers 8 --batch 8
# the recipes' attention; fails with transformers' own message where flash-attn is not installed
step sft-padding-free-fa2 $PY benchmarks/sft_padding_free.py --device cuda --hidden 1024 --layers 8 --batch 8 \
    --attention flash_attention_2
exit $status
