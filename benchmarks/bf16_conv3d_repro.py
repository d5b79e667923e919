"""Standalone reproducer: oneDNN's bf16 conv3d backward-weights reads memory it never wrote.

    python benchmarks/bf16_conv3d_repro.py                      # the failing case, 200 repetitions
    python benchmarks/bf16_conv3d_repro.py --isa avx512_core_bf16 --scan   # every shape, AMX off
    python benchmarks/bf16_conv3d_repro.py --kernels            # oneDNN's kernel names (ONEDNN_VERBOSE)

Only ``torch.nn.functional.conv3d``: no model, no project code -- the file to attach to an upstream
report. What it shows (torch 2.14.1, oneDNN 3.12.0):

* ``F.conv3d`` on bf16 tensors, input depth D = 2, temporal kernel 3 with temporal padding 1
  (stride 1): the weight gradient (``jit_bf16:avx512_core_bf16`` ``backward_weights``) comes out
  non-finite, the input gradient and the forward never do. Identical inputs give different
  results from call to call, and the outcome follows what the allocator's recycled memory held
  before the call: the kernel reads uninitialised scratch memory where the depth padding should
  be zeros (the ``pd1`` rows of a depth-2 input).
* ``--poison`` (default on) makes it deterministic: before each call it allocates and frees
  buffers filled with NaN, so the recycled memory the kernel reads is NaN instead of whatever the
  previous layer left there (often finite, which is why the bug is intermittent in training).
* The same convolution with the temporal padding done explicitly (``F.pad`` of the input, then
  ``conv3d`` with depth padding 0: the same maths) never fails: that is the workaround
  ``hdc_video`` uses (``hdc_video.models.time_padding``).
* Which kernel runs depends on the CPU: AVX512-BF16 without AMX (e.g. AMD EPYC Zen 4) takes the
  failing ``jit_bf16:avx512_core_bf16`` kernel; a CPU with AMX takes another kernel that did not
  fail here. ``--isa avx512_core_bf16`` caps oneDNN's ISA (``ONEDNN_MAX_CPU_ISA``) so an AMX machine
  runs the failing kernel too.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

# (N, C_in, C_out, D, H, kernel, stride, padding): the failing case first (R(2+1)D / R3D layer3
# of an 8-frame clip: depth 2 after two temporal strides)
FAILING = (16, 64, 64, 2, 8, (3, 1, 1), (1, 1, 1), (1, 0, 0))


def scan_shapes():
    """Depths 1-6 x the kernels of R3D / R(2+1)D / C3D / S3D, both strides."""
    out = []
    for d in (1, 2, 3, 4, 6):
        for k, s, p in (
            ((3, 1, 1), (1, 1, 1), (1, 0, 0)),
            ((3, 3, 3), (1, 1, 1), (1, 1, 1)),
            ((3, 3, 3), (2, 2, 2), (1, 1, 1)),
            ((3, 1, 1), (2, 1, 1), (1, 0, 0)),
            ((1, 3, 3), (1, 1, 1), (0, 1, 1)),
            ((5, 1, 1), (1, 1, 1), (2, 0, 0)),
        ):
            if d + 2 * p[0] >= k[0]:
                out.append((16, 64, 64, d, 8, k, s, p))
    for h in (2, 4):  # small spatial maps with spatial padding only
        out.append((16, 64, 64, 4, h, (1, 3, 3), (1, 1, 1), (0, 1, 1)))
    return out


def poison(torch) -> None:
    """Fill recycled heap memory with NaN: allocate and free a few NaN buffers (4 to 64 MiB)."""
    for mib in (4, 16, 64):
        t = torch.full((mib * 2**18,), float("nan"))
        del t


def run_case(torch, case, reps: int, channels_last: bool, explicit: bool, do_poison: bool) -> tuple[int, int]:
    """``(non-finite weight gradients, non-finite input gradients)`` over ``reps`` identical calls."""
    F = torch.nn.functional
    n, ci, co, d, h, k, s, p = case
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, ci, d, h, h, generator=g)
    w = torch.randn(co, ci, *k, generator=g) * 0.05
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
        w = w.contiguous(memory_format=torch.channels_last_3d)
    x = x.to(torch.bfloat16).requires_grad_()
    w = w.to(torch.bfloat16).requires_grad_()
    bad_w = bad_x = 0
    for _ in range(reps):
        x.grad = w.grad = None
        if do_poison:
            poison(torch)
        if explicit:  # the workaround: pad time by hand, the convolution sees depth padding 0
            y = F.conv3d(F.pad(x, (0, 0, 0, 0, p[0], p[0])), w, None, s, (0, p[1], p[2]))
        else:
            y = F.conv3d(x, w, None, s, p)
        y.backward(torch.ones_like(y))
        bad_w += not bool(torch.isfinite(w.grad).all())
        bad_x += not bool(torch.isfinite(x.grad).all())
    return bad_w, bad_x


def describe(case) -> str:
    n, ci, co, d, h, k, s, p = case
    return f"N{n} C{ci}->{co} D{d} H=W{h} k{'x'.join(map(str, k))} s{'x'.join(map(str, s))} p{'x'.join(map(str, p))}"


def cpu_model() -> str:  # as benchmarks/_common.py, repeated: this file must run on its own
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return " ".join(f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in have) or "no bf16 flags"
    except OSError:
        pass
    return "?"


def onednn_version(torch) -> str:
    for part in torch.__config__.show().split("\n"):
        if "MKL-DNN v" in part or "oneDNN v" in part:
            return part.split(" v", 1)[1].split()[0]
    return "?"


def kernels(isa: str | None) -> None:
    """Rerun the failing case once per layout in a child with ONEDNN_VERBOSE=1; print the
    convolution primitives oneDNN picked (implementation, propagation kind, problem)."""
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa.upper()
    for layout in ("contiguous_format", "channels_last_3d"):
        code = (
            "import torch, torch.nn.functional as F; m = torch." + layout + "; "
            "x = torch.randn(16, 64, 2, 8, 8).contiguous(memory_format=m).bfloat16().requires_grad_(); "
            "w = (torch.randn(64, 64, 3, 1, 1) * 0.05).contiguous(memory_format=m).bfloat16().requires_grad_(); "
            "y = F.conv3d(x, w, None, 1, (1, 0, 0)); y.backward(torch.ones_like(y))"
        )
        res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
        rows = [ln.split(",") for ln in res.stdout.splitlines() if ",convolution," in ln]
        print(
            f"oneDNN primitives, {layout}:"
            if rows
            else f"no oneDNN verbose output for {layout} (rc {res.returncode}): {res.stderr[-300:]}"
        )
        for r in rows:
            problem = next((f for f in r if f.startswith("mb")), "")
            print(f"  {r[6]:32s} {r[7]:18s} {problem}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=200, help="identical calls per shape (default 200)")
    ap.add_argument(
        "--isa",
        default=None,
        help="cap oneDNN's ISA (sets ONEDNN_MAX_CPU_ISA before torch loads), e.g. avx512_core_bf16 "
        "to run the non-AMX kernel on an AMX machine",
    )
    ap.add_argument("--scan", action="store_true", help="every shape of scan_shapes(), not only the failing one")
    ap.add_argument("--no-poison", action="store_true", help="do not fill recycled memory with NaN first")
    ap.add_argument("--kernels", action="store_true", help="print oneDNN's kernel names for the failing case")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    ap.add_argument("--smoke", action="store_true", help="2 repetitions of the failing case (checks the script runs)")
    a = ap.parse_args(argv)
    if a.isa:
        if "torch" in sys.modules:
            print("note: torch was imported before --isa could take effect", file=sys.stderr)
        os.environ["ONEDNN_MAX_CPU_ISA"] = a.isa.upper()
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    reps = 2 if a.smoke else a.reps
    print(
        f"torch {torch.__version__}, oneDNN {onednn_version(torch)}"
        f", CPU {cpu_model()} ({cpu_flags()}), ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}, "
        f"{torch.get_num_threads()} threads, poison={'off' if a.no_poison else 'on'}"
    )
    if a.kernels:
        kernels(a.isa)
    cases = scan_shapes() if a.scan else [FAILING]
    print(f"\n{'shape':44s} {'layout':>6s}  {'bf16 conv3d: bad dW / dX':>24s}  {'explicit time pad: bad dW / dX':>30s}")
    total_fail = 0
    for case in cases:
        for cl in (False, True):
            bw, bx = run_case(torch, case, reps, cl, False, not a.no_poison)
            ew, ex = run_case(torch, case, reps, cl, True, not a.no_poison)
            total_fail += bw + bx
            print(
                f"{describe(case):44s} {'cl3d' if cl else 'ncdhw':>6s}  {f'{bw}/{reps} / {bx}/{reps}':>24s}  "
                f"{f'{ew}/{reps} / {ex}/{reps}':>30s}",
                flush=True,
            )
    print("\nbad dW / dX = calls whose weight / input gradient held a non-finite value, out of identical calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
