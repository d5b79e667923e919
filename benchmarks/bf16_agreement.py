"""Per-layer bf16 agreement: every convolution of every backbone against fp32 and correct bf16.

    .venv/bin/python benchmarks/bf16_agreement.py                                  # this CPU's kernels
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 .venv/bin/python benchmarks/bf16_agreement.py   # AMX off
    .venv/bin/python benchmarks/bf16_agreement.py --no-padding --backbones r3d_18  # without the workaround

For each backbone (width 0.25 by default) at each clip shape (the demo's 8x64^2 and the paper's
16x112^2 by default), :func:`hdc_video.train.bf16_check.check_bf16` compares every layer's forward
output, input gradient and weight gradient in bf16 -- as the trainer runs it: channels_last_3d and
the CPU time-padding workaround -- against fp32 and against emulated correct bf16 (fp32 arithmetic
on bf16-rounded operands, rounded result), twice per layer with recycled memory poisoned in between.
Printed per backbone and shape: the worst layer's error as a multiple of correct rounding's, and the
failing layers (non-finite, call-to-call differences, errors beyond 3x correct rounding + 0.002).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import torch  # noqa: E402

ALL = ["r3d_18", "r2plus1d_18", "r3d_10", "r2plus1d_10", "c3d", "s3d"]


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--backbones", nargs="+", default=ALL)
    ap.add_argument("--width", type=float, default=0.25)
    ap.add_argument("--shapes", nargs="+", default=["8x64", "16x112"], help="clip shapes TxS")
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--no-padding", action="store_true", help="without the CPU time-padding workaround")
    ap.add_argument("--contiguous", action="store_true", help="NCDHW instead of channels_last_3d")
    ap.add_argument("--layers", action="store_true", help="print every layer, not only the failing ones")
    a = ap.parse_args(argv)
    C.setup_threads(a.threads)
    import os

    from hdc_video.models.registry import build_backbone
    from hdc_video.models.time_padding import pad_time_explicitly
    from hdc_video.train.bf16_check import QUANTITIES, check_bf16
    from hdc_video.train.runtime import cpu_bf16_path

    shapes = ["4x32"] if a.smoke else a.shapes
    backbones = a.backbones[:1] if a.smoke else a.backbones
    print(
        f"CPU {C.cpu_model()}, oneDNN kernel path {cpu_bf16_path()} (ONEDNN_MAX_CPU_ISA="
        f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}), torch {torch.__version__}; width {a.width}, "
        f"{a.clips} clips, {'NCDHW' if a.contiguous else 'channels_last_3d'}, "
        f"{'no time padding' if a.no_padding else 'time padding (the CPU workaround)'}"
    )
    print("\n| backbone | clip | layers | failing | worst kernel / correct-bf16 error (where) | s |")
    print("|---|---|---:|---:|---|---:|")
    failed = 0
    for name in backbones:
        for shape in shapes:
            t, s = (int(v) for v in shape.split("x"))
            torch.manual_seed(0)
            net = build_backbone(name, width=a.width)
            x = torch.randn(a.clips, 3, t, s, s)
            if not a.contiguous:
                net = net.to(memory_format=torch.channels_last_3d)
                x = x.contiguous(memory_format=torch.channels_last_3d)
            if not a.no_padding:
                pad_time_explicitly(net)
            t0 = time.perf_counter()
            try:
                rep = check_bf16(net, x)
            except RuntimeError as e:  # e.g. a clip too short for the backbone
                print(f"| {name} | {shape} | - | - | {str(e).splitlines()[0][:60]} | - |")
                continue
            worst = max(
                (lay.kernel[q] / max(lay.emulated[q], 1e-12), lay.name, q) for lay in rep.layers for q in QUANTITIES
            )
            failed += len(rep.failures)
            print(
                f"| {name} | {shape} | {len(rep.layers)} | {len(rep.failures)} | {worst[0]:.2f} ({worst[2]} of "
                f"{worst[1]}) | {time.perf_counter() - t0:.1f} |",
                flush=True,
            )
            for lay in rep.layers if a.layers else rep.failures:
                errs = ", ".join(f"{q} {lay.kernel[q]:.4f} / {lay.emulated[q]:.4f}" for q in QUANTITIES)
                print(
                    f"|  | {lay.name} {lay.shape} | | {'FAIL' if lay.problems else ''} | {errs} "
                    f"{'; '.join(lay.problems)} | |"
                )
    print(f"\n{failed} failing layer(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
