#!/usr/bin/env bash
# Issue 16's GPU figures in one device call: every generation benchmark that pays on a GPU, run side by side on
# one GPU (each a small model: they share the chip), with a hard time limit each.
#
# On the GPU machine (torch and numpy only; no Django, Celery or music21 there), from the repository root:
#     bash benchmarks/generation/gpu_suite.sh WORK OUT [quick]
# WORK: a copy of the benchmarks' work folder holding the parsed chorales (chorales/*.npz) and the split's names
# (chorale-names.json), made here by any generation benchmark (common.load_split), e.g.
#     .venv/bin/python benchmarks/generation/bench_schedule.py --arch lstm --steps 1 --dim 8 --layers 1
#     mkdir -p var/gpu && cp -r /tmp/ledgerline-bench-generation/{chorales,chorale-names.json} var/gpu/
# OUT: where the results go: results.jsonl (one JSON line per token-model run), vae-*.json, frames.jsonl,
# logs.tgz, and the best Transformer's weights. `quick` runs debug sizes for a few seconds each (a dry run of
# the script on any machine).
#
# The engine runs from a copy beside the repository whose `ledgerline` and `generation` packages have empty
# `__init__` files, so that importing the engine pulls in nothing but torch and numpy.
set -u
WORK=$(realpath "$1")
OUT=$(realpath "$2")
QUICK=${3:-}
REPO=$(pwd)
SHIM=$(mktemp -d /tmp/ledgerline-shim.XXXX)
mkdir -p "$SHIM/ledgerline/music" "$SHIM/generation" "$SHIM/benchmarks" "$OUT/logs"
cp -r "$REPO/generation/engine" "$SHIM/generation/"
cp "$REPO/ledgerline/music/events.py" "$SHIM/ledgerline/music/"
touch "$SHIM/ledgerline/__init__.py" "$SHIM/ledgerline/music/__init__.py" "$SHIM/generation/__init__.py"
cp -r "$REPO/benchmarks/generation" "$SHIM/benchmarks/"
cd "$SHIM/benchmarks/generation" || exit 1
export LEDGERLINE_BENCH_WORK=$WORK PYTHONUNBUFFERED=1 LEDGERLINE_BENCH_THREADS=1 OMP_NUM_THREADS=1
PY=${PYTHON:-python3}
DEVICE=$($PY -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/logs/gpu.txt" 2>&1

if [ -n "$QUICK" ]; then
    LIMIT=${LIMIT:-240}; SIZE=(--dim 16 --layers 1 --heads 2); STEPS=(--steps 20 --every 10 --budget 10); LATENCY=1
    VAE=(--budget-s 5 --epochs 1 --pairs 2 --set decoder_dim=16 --set encoder_dim=16)
    FRAMES=(--hidden 16 --layers 1 --made 16 --epochs 1 --min-epochs 0 --candidates 4 --budget-s 5)
else
    LIMIT=430; SIZE=(--dim 256 --layers 4 --heads 4); STEPS=(--steps 4000 --every 100 --patience 8 --budget 300)
    LATENCY=3; VAE=(--budget-s 270 --epochs 1000)
    FRAMES=(--hidden 256 --layers 2 --made 256 --epochs 300 --min-epochs 40 --budget-s 180)
fi
COMMON=(--device "$DEVICE" --seq-len 256 --batch 16 --out "$OUT/results.jsonl")
TRANSFORMER=(--arch transformer "${SIZE[@]}" "${STEPS[@]}" --schedule cosine --warmup 200 --weight-decay 0.1)

job() {  # job NAME SCRIPT ARGS...: run in the background under the time limit, output in logs/NAME.log
    local name=$1
    shift
    timeout "$LIMIT" "$PY" "$@" > "$OUT/logs/$name.log" 2>&1 &
}
tokens() {  # tokens NAME ARGS...: one token-model run of bench_schedule.py, its weights saved as WORK/NAME.pt
    local name=$1
    shift
    job "$name" bench_schedule.py "$@" "${COMMON[@]}" --save "$WORK/$name.pt"
}

# Token models on the chorale melodies (issue 16 §2): the LSTM reference and Transformers with absolute or
# relative positions, with and without random transposition of the training windows.
LSTM=(--arch lstm "${STEPS[@]}" --lr 3e-3 --weight-decay 0.01 --dropout 0.2)
if [ -n "$QUICK" ]; then LSTM+=(--dim 16 --layers 1); else LSTM+=(--dim 256 --layers 2); fi
tokens lstm "${LSTM[@]}" --latency "$LATENCY"
tokens lstm-t5 "${LSTM[@]}" --transpose 5
tokens tf-abs-1e3 "${TRANSFORMER[@]}" --lr 1e-3 --dropout 0.1
tokens tf-abs-2e3 "${TRANSFORMER[@]}" --lr 2e-3 --dropout 0.1 --latency "$LATENCY"
tokens tf-abs-1e3-t5 "${TRANSFORMER[@]}" --lr 1e-3 --dropout 0.1 --transpose 5
tokens tf-rel-1e3 "${TRANSFORMER[@]}" --lr 1e-3 --dropout 0.1 --positions relative
for dropout in 0.1 0.2 0.3; do
    tokens "tf-rel-1e3-t5-d$dropout" "${TRANSFORMER[@]}" --lr 1e-3 --dropout "$dropout" --positions relative \
        --transpose 5 --latency "$LATENCY"
done
tokens tf-rel-5e4-t5-d0.2 "${TRANSFORMER[@]}" --lr 5e-4 --dropout 0.2 --positions relative --transpose 5
tokens tf-rel-2e3-t5-d0.2 "${TRANSFORMER[@]}" --lr 2e-3 --dropout 0.2 --positions relative --transpose 5

# The melody VAE (issue 16 §1): the CPU sizes with a GPU's budget, and a larger 16-bar model.
job vae-2 bench_vae.py --bars 2 --device "$DEVICE" "${VAE[@]}" --tag=-gpu
job vae-16 bench_vae.py --bars 16 --device "$DEVICE" "${VAE[@]}" --batch-size 16 --eval-every 25 --tag=-gpu
job vae-16-large bench_vae.py --bars 16 --device "$DEVICE" "${VAE[@]}" --batch-size 16 --eval-every 25 \
    --set latent=64 --set decoder_dim=256 --set conductor_dim=128 --set encoder_dim=192 --tag=-gpu-large

# Four-part harmony from the frame model (issue 16 §3): the platform's default size, trained to early stopping.
job frames bench_frames_harmony.py "${FRAMES[@]}" --device "$DEVICE" --key-penalty 0.2 --out "$OUT/frames.jsonl"

wait
cp "$WORK"/vae-*.json "$OUT/" 2>/dev/null
# The best Transformer's weights (by valid NLL) come back; the other models retrain here in minutes when needed.
best=$("$PY" -c '
import json, sys
runs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
best = min((r for r in runs if r["arch"] == "transformer"), key=lambda r: r["valid_nll_per_token"], default=None)
print("" if best is None else best["saved"])
' "$OUT/results.jsonl")
[ -n "$best" ] && cp "$best" "$OUT/best-transformer.pt"
tar czf "$OUT/logs.tgz" -C "$OUT" logs && rm -rf "$OUT/logs"
rm -rf "$SHIM"
echo "gpu_suite: done; $(wc -l < "$OUT/results.jsonl") token-model runs"
