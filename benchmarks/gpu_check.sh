#!/usr/bin/env bash
# Every GPU-specific check and measurement of the project in ONE call on a lent GPU machine
# (~6-8 minutes of a 15-minute device budget; the inner timeouts add up to 570 s at most).
# From this checkout, with the `device` tool:
#
#   1. once, here:  echo /.whl/ >> .git/info/exclude
#                   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#                     --implementation cp --platform manylinux_2_28_x86_64 -d .whl av==18.1.0
#      (the GPU image has PyTorch, sklearn, matplotlib, ... but not PyAV)
#   2. run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=600)
#
# Writes tests.txt, gpu.txt, gpu_compile.txt and pretrain.txt into $OUT (or /tmp/gpu_check):
#   - the CUDA-only tests (device augmentation == CPU for the same draw, sync-free step, guard);
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

stamp tests
timeout 90 $PY -m pytest -q -p no:cacheprovider tests/test_device_augment.py tests/test_sync_free.py \
  tests/test_guard.py 2>&1 | tee "$OUT/tests.txt"

stamp gpu.py
timeout 220 $PY benchmarks/gpu.py --max-seconds 25 2>&1 | tee "$OUT/gpu.txt"

stamp gpu.py --compile
timeout 90 $PY benchmarks/gpu.py --compile --backbones r3d_18 --steps 60 --real-steps 0 --max-seconds 20 \
  2>&1 | tee "$OUT/gpu_compile.txt"

stamp pretrain
DATA=/tmp/gpu_check_bench RUN=/tmp/gpu_check_run
rm -rf "$RUN"
{
  timeout 30 $PY -m hdc_video synth "$DATA" --overwrite &&
  timeout 100 $PY -m hdc_video pretrain --data "$DATA" --out "$RUN" --config demo --no-progress \
    train.steps=40 train.log_every=10 train.compile=true train.device=cuda &&
  timeout 40 $PY -m hdc_video pretrain --data "$DATA" --out "$RUN" --resume --no-progress train.steps=50 \
    train.compile=false &&
  tail -n 2 "$RUN/metrics.jsonl"
} 2>&1 | tee "$OUT/pretrain.txt"
stamp done
