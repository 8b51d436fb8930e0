#!/usr/bin/env bash
# The GPU check (issue 11): on a CUDA machine, in a few minutes, it
#   1. benchmarks our trainer against RadioDiff's procedure (fp32, interleaved) on RadioDiff's own config
#      (320 x 320, ch 128, batch 2, LPIPS): ours in fp32, bf16, bf16 + channels_last, bf16 + compile, and
#      bf16 + compile with deterministic: false;
#   2. measures the attention paths' memory at 320 x 320 and the largest batch that fits on each;
#   3. checks exact resume on CUDA in deterministic mode (stop at step 3 of 6, resume, bitwise compare
#      with a straight run), and the same with two processes (DDP) when two GPUs are present;
#   4. prints a Markdown table (for README's GPU section) and leaves it in OUT_DIR/table.md.
# Usage, from anywhere, with a CUDA build of PyTorch in the repository's .venv:
#   make venv TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
#   bash radiodiff_lib/bench/gpu_check.sh [OUT_DIR]        # default runs/gpu_check (replaced)
# Knobs (environment): DEVICE (cuda; cpu for a dry run), CONFIG (radiodiff), STEPS (5 timed steps a phase),
# SKIP_COMPILE=1 (leave out the compiled runs), PYTHON (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
OUT=${1:-runs/gpu_check}
DEVICE=${DEVICE:-cuda}
CONFIG=${CONFIG:-radiodiff}
STEPS=${STEPS:-5}
rm -rf "$OUT" && mkdir -p "$OUT"
if [ "$DEVICE" = cuda ]; then
  "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: this PyTorch sees no CUDA GPU; install a CUDA build (README, GPU section)')"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.csv" 2>/dev/null || true
fi
bench() {
  echo "== radiodiff bench $*" >&2
  "$PY" -m radiodiff_lib.cli bench "$@" --device "$DEVICE" --config "$CONFIG" > /dev/null
}
bench train --precision no --steps "$STEPS" --json "$OUT/train_fp32.json"
bench train --precision bf16 --steps "$STEPS" --json "$OUT/train_bf16.json"
bench train --precision bf16 --channels-last --steps "$STEPS" --json "$OUT/train_bf16_channels_last.json"
if [ "${SKIP_COMPILE:-0}" != 1 ]; then
  bench train --precision bf16 --compile --steps "$STEPS" --json "$OUT/train_bf16_compile.json"
  bench train --precision bf16 --compile --no-deterministic --steps "$STEPS" --json "$OUT/train_bf16_compile_nondet.json"
fi
bench attention --max-batch --json "$OUT/attention.json"
echo "== exact resume, 1 process" >&2
"$PY" -m radiodiff_lib.bench.resume_check --device "$DEVICE" --config "$CONFIG" --out "$OUT/resume_1gpu" \
  --json "$OUT/resume_1gpu.json" > /dev/null || echo "gpu_check: the exact-resume check failed (see above)" >&2
if [ "$DEVICE" = cuda ] && [ "$(nvidia-smi -L 2>/dev/null | wc -l)" -ge 2 ]; then
  echo "== exact resume, 2 GPUs (DDP)" >&2
  "$(dirname "$PY")/torchrun" --nproc_per_node 2 -m radiodiff_lib.bench.resume_check --device cuda --config "$CONFIG" \
    --out "$OUT/resume_2gpu" --json "$OUT/resume_2gpu.json" > /dev/null || echo "gpu_check: the 2-GPU check failed" >&2
fi
"$PY" -m radiodiff_lib.bench.gpu_report "$OUT" | tee "$OUT/table.md"
