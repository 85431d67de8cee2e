#!/usr/bin/env bash
# magnet synth with a teacher served by vLLM (or any OpenAI-compatible endpoint), end to end.
#
#   bash examples/synth_with_vllm.sh                       # serve the teacher here (8 GPUs), synthesize with it
#   BASE_URL=https://api.example.com/v1 MODEL=my-teacher OPENAI_API_KEY=... bash examples/synth_with_vllm.sh
#   NEGATIVES=student STUDENT=runs/sft-14b bash examples/synth_with_vllm.sh   # the paper's negatives, after SFT
#
# The first run uses rule-based negatives (perturb). The paper's negatives come from the SFT model (the student)
# judged by the teacher: train SFT on the first run's datasets, then rerun with NEGATIVES=student; translation
# and positives are reused from the finished shards and the request cache, only negatives and datasets are redone.
set -euo pipefail
MODEL=${MODEL:-Qwen/Qwen2.5-72B-Instruct}
PORT=${PORT:-8000}
TP=${TP:-8}                                      # tensor parallel size for vllm serve
BASE_URL=${BASE_URL:-http://127.0.0.1:$PORT/v1}
OUT=${OUT:-runs/synth-vllm}
NEGATIVES=${NEGATIVES:-perturb}
CONFIG=${CONFIG:-recipes/synth/openai-teacher.yaml}
TOOL_PARSER=${TOOL_PARSER:-hermes}               # vLLM's tool-call parser for MODEL (hermes: Qwen2.5)
export OPENAI_API_KEY=${OPENAI_API_KEY:-EMPTY}   # vLLM ignores it; a hosted API needs the real one
mkdir -p "$(dirname "$OUT")"

serve() {  # serve MODEL PORT NAME LOG: start vllm unless something already answers on PORT
    if curl -sf "http://127.0.0.1:$2/v1/models" >/dev/null; then return; fi
    echo "starting vllm serve $1 on port $2 (log: $4)"
    # --enable-auto-tool-choice --tool-call-parser: without them vLLM answers HTTP 400 to every request that offers
    # tools (teacher.tool_calls: auto then describes the tools in the prompt instead; native stops with that 400).
    vllm serve "$1" --port "$2" --served-model-name "$3" --tensor-parallel-size "$TP" \
        --max-model-len 32768 --enable-prefix-caching \
        --enable-auto-tool-choice --tool-call-parser "$TOOL_PARSER" >"$4" 2>&1 &
    until curl -sf "http://127.0.0.1:$2/v1/models" >/dev/null; do sleep 10; done
}

if [[ $BASE_URL == http://127.0.0.1:* || $BASE_URL == http://localhost:* ]]; then
    serve "$MODEL" "$PORT" "$MODEL" "$OUT.teacher.log"
fi

SETTINGS=(--teacher.model "$MODEL" --teacher.base_url "$BASE_URL")
if [[ $NEGATIVES == student ]]; then
    STUDENT=${STUDENT:?set STUDENT to the SFT model folder (recipes/sft.py output)}
    STUDENT_PORT=${STUDENT_PORT:-8001}
    # Served under its folder's name, so that synth finds its magnet.json and talks to it in the tool format it
    # was trained in (bfcl_prompt for the recipes: BFCL's system prompt, calls read as text).
    TP=${STUDENT_TP:-1} serve "$STUDENT" "$STUDENT_PORT" "$STUDENT" "$OUT.student.log"
    SETTINGS+=(--negatives.student.kind openai --negatives.student.model "$STUDENT")
    SETTINGS+=(--negatives.student.base_url "http://127.0.0.1:$STUDENT_PORT/v1")
    rm -rf "$OUT/negatives" "$OUT/datasets"      # made with other negatives: redo them, keep everything else
fi

magnet synth --config "$CONFIG" --out "$OUT" --negatives "$NEGATIVES" "${SETTINGS[@]}"
echo "datasets in $OUT/datasets; report in $OUT/report.md; usage (tokens, cache hits) in $OUT/usage.json"
