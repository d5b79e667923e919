#!/usr/bin/env bash
# Every GPU-specific check and measurement of the project in ONE call on a lent GPU machine
# (~6-8 minutes of a 15-minute device budget; the section timeouts add up to 520 s at most).
# From this checkout, with the `device` tool:
#
#   1. once, here:  echo /.whl/ >> .git/info/exclude
#                   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                     --implementation cp --platform manylinux_2_28_x86_64 -d .whl av==18.1.0
#      (the GPU image has PyTorch, sklearn, matplotlib, ... but not PyAV)
#   2. run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
#
# Writes tests.txt, suite.txt, gpu.txt, gpu_compile.txt, pretrain.txt and summary.txt into $OUT (or
# /tmp/gpu_check); every section's exit status is checked and the summary lists them (the script
# exits non-zero when any section failed, so it cannot pass silently):
#   - the CUDA-only tests (device augmentation == CPU for the same draw, no host sync in the step
#     under CUDA's sync-debug mode, guard) -- each named file must exist;
#   - the fast test tier with CUDA visible, with the slowest tests listed;
#   - benchmarks/gpu.py: clips/s, MFU, data wait, augmentation share, peak memory, host syncs per
#     step, for R3D-18 and R(2+1)D-18 at 16x112^2 (< 5 minutes);
#   - the same for R3D-18 with train.compile's compiled backbone (synthetic phase only);
#   - a real `hdc pretrain` on CUDA (device augmentation, bf16, channels_last_3d, compile) for
#     40 steps on a generated benchmark, resumed for 10 more (uncompiled: no second compilation).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
stamp() { echo "== $(date +%T) $*"; }

stamp environment
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
$PY -c "import torch, av; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'av', av.__version__)" \
  || { echo "gpu_check: torch with CUDA and PyAV are needed (carry .whl, see the header)"; exit 3; }

declare -a SUMMARY=()
FAILED=0
# section NAME FILE TIMEOUT CMD...: run CMD under TIMEOUT seconds, output to $OUT/FILE, record the status
section() {
  local name=$1 file=$2 limit=$3; shift 3
  stamp "$name"
  local t0=$SECONDS
  timeout "$limit" "$@" > >(tee "$OUT/$file") 2>&1
  local rc=$?
  wait
  local verdict=ok
  if [ $rc -eq 124 ]; then verdict="TIMED OUT after ${limit}s"; elif [ $rc -ne 0 ]; then verdict="FAILED (exit $rc)"; fi
  [ "$verdict" = ok ] || FAILED=1
  SUMMARY+=("$(printf '%-22s %-24s %4ds  %s' "$name" "$verdict" $((SECONDS - t0)) "$OUT/$file")")
}

CUDA_TESTS=(tests/test_transforms_device.py tests/test_sync_free.py tests/test_guard.py)
for f in "${CUDA_TESTS[@]}"; do
  [ -f "$f" ] || { echo "gpu_check: $f does not exist (update CUDA_TESTS)"; SUMMARY+=("missing test file $f"); FAILED=1; }
done
section "CUDA tests" tests.txt 60 $PY -m pytest -q -p no:cacheprovider -rs "${CUDA_TESTS[@]}"
section "fast tier, CUDA visible" suite.txt 120 $PY -m pytest -q -p no:cacheprovider -x -m "not slow" --durations=15
section "gpu.py" gpu.txt 150 $PY benchmarks/gpu.py --max-seconds 15
section "gpu.py --compile" gpu_compile.txt 80 $PY benchmarks/gpu.py --compile --backbones r3d_18 --steps 60 \
  --real-steps 0 --max-seconds 20

DATA=/tmp/gpu_check_bench RUN=/tmp/gpu_check_run
rm -rf "$RUN"
pretrain_and_resume() {
  $PY -m hdc_video synth "$DATA" --overwrite &&
  $PY -m hdc_video pretrain --data "$DATA" --out "$RUN" --config demo --no-progress \
    train.steps=40 train.log_every=10 train.compile=true train.device=cuda &&
  $PY -m hdc_video pretrain --data "$DATA" --out "$RUN" --resume --no-progress train.steps=50 train.compile=false &&
  tail -n 2 "$RUN/metrics.jsonl"
}
export -f pretrain_and_resume
export PY DATA RUN
section "pretrain + resume" pretrain.txt 110 bash -c pretrain_and_resume

stamp summary
printf '%s\n' "${SUMMARY[@]}" | tee "$OUT/summary.txt"
[ $FAILED -eq 0 ] && echo "gpu_check: every section passed" || echo "gpu_check: SOME SECTIONS FAILED"
exit $FAILED
