#!/usr/bin/env bash
# The accelerator rows of bench/RESULTS.md in one run: the full SS-MPE
# training step (bench/train_step.py) at each batch size in BATCHES, in
# bfloat16 and float32, with its RESULT lines and model FLOPs utilisation.
#
#   bench/accelerator.sh [WHEEL_DIR]
#
# Needs jax (with the accelerator's plugin), flax, optax and orbax installed;
# the rest of what the step imports is pure Python (ml_collections, mir_eval,
# decorator). On a machine without network access, fetch those wheels
# beforehand and pass their folder:
#   pip download --no-deps -d .wheels ml_collections mir_eval decorator
#   bench/accelerator.sh .wheels
# Environment: BATCHES (default "20 64"), DTYPES ("bfloat16 float32"), STEPS
# (timed steps per run, 10), EXCERPT_SECONDS (4), PEAK_TFLOPS (the
# device's dense bf16 peak when bench/train_step.py does not know its kind).
# Each run compiles once (not timed). Runs are independent processes, so one
# that fails (out of memory, say) is reported and the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ge 1 ]]; then
  shopt -s nullglob
  wheels=("$1"/*.whl)
  if [[ ${#wheels[@]} -eq 0 ]]; then
    echo "error: no .whl files in $1" >&2
    exit 2
  fi
  python -m pip install -q --no-index --no-deps "${wheels[@]}" || exit 2
fi
python -c 'import jax; print("devices:", jax.devices())' || exit 2

peak=()
if [[ -n "${PEAK_TFLOPS:-}" ]]; then
  peak=(--peak_tflops="$PEAK_TFLOPS")
fi
failed=0
for dtype in ${DTYPES:-bfloat16 float32}; do
  for batch in ${BATCHES:-20 64}; do
    echo "=== batch $batch, $dtype"
    if ! python bench/train_step.py --config=configs/ssmpe.py \
        --batch_size="$batch" --compute_dtype="$dtype" \
        --steps="${STEPS:-10}" --seconds="${EXCERPT_SECONDS:-4}" \
        "${peak[@]}"; then
      echo "FAILED: batch $batch, $dtype"
      failed=1
    fi
  done
done
exit $failed
