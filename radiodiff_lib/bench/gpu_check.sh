#!/usr/bin/env bash
# The GPU check (issues 11 and 21), for a CUDA machine as such machines often are: no network, a Python with
# a CUDA PyTorch. It runs from this working tree (put on PYTHONPATH; nothing is installed, no venv needed).
#
# Fast part (no compile; a few minutes on one H100-class GPU; every run bounded by STEPS steps a phase and
# PART_TIMEOUT seconds, the whole part by FAST_BUDGET seconds, after which its remaining runs are left out):
#   1. our trainer against RadioDiff's procedure (fp32, interleaved) on RadioDiff's own config (320 x 320,
#      ch 128, batch 2, LPIPS): ours in fp32, bf16 and bf16 + channels_last;
#   2. the attention paths' memory at 320 x 320 and the largest batch that fits on each;
#   3. exact resume on CUDA in deterministic mode (stop at step 3 of 6, resume, bitwise compare with a
#      straight run), and the same with two processes (DDP) when two GPUs and Accelerate are present;
#   then the Markdown table for docs/benchmarks.md, printed and kept in OUT_DIR/table.md.
# Compile part (SKIP_COMPILE=1 leaves it out; about 5 more minutes, COMPILE_TIMEOUT seconds a run): bf16 +
#   compile, deterministic and not; then the table again, with those rows.
#
# Usage, from anywhere:
#   PYTHON=python3 bash radiodiff_lib/bench/gpu_check.sh [OUT_DIR]      # default runs/gpu_check (replaced)
# Knobs (environment): PYTHON (default .venv/bin/python if there, else python3), DEVICE (cuda; cpu for a dry
# run), CONFIG (radiodiff), STEPS (5 timed steps a phase), PART_TIMEOUT (240 s a run), FAST_BUDGET (480 s),
# COMPILE_TIMEOUT (420 s a run), SKIP_COMPILE=1,
# WHEELS=DIR (a folder of wheels: the distributions this Python lacks are installed from it, offline, into
# OUT_DIR/site-packages, never into the Python itself; bench/wheels.py).
# What it imports beyond PyTorch (and PyTorch's own dependencies): numpy, pyyaml, scipy, pillow, pandas.
set -uo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${PYTHON:-}" ] && [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; fi
PY=${PYTHON:-python3}
OUT=${1:-runs/gpu_check}
DEVICE=${DEVICE:-cuda}
CONFIG=${CONFIG:-radiodiff}
STEPS=${STEPS:-5}
PART_TIMEOUT=${PART_TIMEOUT:-240}
FAST_BUDGET=${FAST_BUDGET:-480}
COMPILE_TIMEOUT=${COMPILE_TIMEOUT:-420}
NEEDED="numpy:numpy yaml:pyyaml scipy:scipy PIL:pillow pandas:pandas"  # module:distribution
rm -rf "$OUT" && mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
say() { echo "gpu_check: $*" >&2; }

missing() {  # the distributions whose module this Python cannot import
  for pair in $NEEDED; do
    "$PY" -c "import ${pair%%:*}" 2>/dev/null || printf '%s ' "${pair##*:}"
  done
}
"$PY" -c "import torch" 2>/dev/null || { say "$PY cannot import torch; set PYTHON to a Python with a CUDA PyTorch"; exit 2; }
lacking=$(missing)
if [ -n "$lacking" ] && [ -n "${WHEELS:-}" ]; then  # what this Python lacks, never what it has (no shadowing)
  "$PY" -m radiodiff_lib.bench.wheels "$WHEELS" "$OUT/site-packages" || { say "could not install from $WHEELS"; exit 2; }
  export PYTHONPATH="$PYTHONPATH:$OUT/site-packages"
  lacking=$(missing)
fi
if [ -n "$lacking" ]; then
  say "$PY lacks: $lacking- bring them as wheels (WHEELS=DIR; docs/benchmarks.md, GPU section, says how)"
  exit 2
fi
if [ "$DEVICE" = cuda ]; then
  "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: this PyTorch sees no CUDA GPU (torch ' + torch.__version__ + '); use a CUDA build, or DEVICE=cpu for a dry run')" || exit 2
fi
"$PY" -c "import json, torch; from radiodiff_lib.hardware import describe; print(json.dumps(describe('$DEVICE'), indent=2))" \
  > "$OUT/machine.json" || { say "the hardware probe failed"; exit 2; }
say "$("$PY" -c "import json; print(json.load(open('$OUT/machine.json'))['measured_on'])")"

failed=0
deadline=$((SECONDS + FAST_BUDGET))  # the fast part's end; the compile part sets its own
limit=$PART_TIMEOUT
part() {  # part NAME COMMAND...: one bounded run; a failure is reported and the check goes on
  local name=$1; shift
  local left=$((deadline - SECONDS))
  if [ $left -le 0 ]; then
    failed=$((failed + 1)); say "$name: left out (the part's time budget is spent)"; return
  fi
  say "== $name"
  local start=$SECONDS
  timeout "$((left < limit ? left : limit))" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    if [ $rc -eq 124 ]; then say "$name: stopped at its time limit"; else say "$name failed (exit $rc):"; fi
    tail -n 5 "$OUT/$name.log" >&2
  fi
  say "$name: $((SECONDS - start)) s"
}
bench() {  # bench NAME ARGS...: radiodiff bench train|attention on the device and config
  local name=$1; shift
  part "$name" "$PY" -m radiodiff_lib.cli bench "$@" --device "$DEVICE" --config "$CONFIG" --json "$OUT/$name.json"
}
table() { "$PY" -m radiodiff_lib.bench.gpu_report "$OUT" > "$OUT/table.md" && cat "$OUT/table.md"; }

bench train_fp32 train --precision no --steps "$STEPS"
bench train_bf16 train --precision bf16 --steps "$STEPS"
bench train_bf16_channels_last train --precision bf16 --channels-last --steps "$STEPS"
bench attention attention --max-batch
part resume_1gpu "$PY" -m radiodiff_lib.bench.resume_check --device "$DEVICE" --config "$CONFIG" \
  --out "$OUT/resume_1gpu" --json "$OUT/resume_1gpu.json"
if [ "$DEVICE" = cuda ] && [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
  if "$PY" -c "import accelerate" 2>/dev/null; then
    part resume_2gpu "$PY" -m torch.distributed.run --nproc_per_node 2 -m radiodiff_lib.bench.resume_check \
      --device cuda --config "$CONFIG" --out "$OUT/resume_2gpu" --json "$OUT/resume_2gpu.json"
  else
    say "two GPUs, but no Accelerate: the DDP resume check is left out"
  fi
fi
say "fast part done in $SECONDS s"
table
if [ "${SKIP_COMPILE:-0}" != 1 ]; then
  limit=$COMPILE_TIMEOUT; deadline=$((SECONDS + 2 * COMPILE_TIMEOUT))
  bench train_bf16_compile train --precision bf16 --compile --steps "$STEPS"
  bench train_bf16_compile_nondet train --precision bf16 --compile --no-deterministic --steps "$STEPS"
  say "compile part done ($SECONDS s in all)"
  table
fi
[ $failed -eq 0 ] || { say "$failed run(s) failed: see $OUT/*.log"; exit 1; }
