"""The paper's claims at the paper's clip shape, on one GPU in one call: 16x112^2 clips of the
nuisance benchmark, the core rows of ``configs/studies/claims16.yaml``, probed, one table.

    .venv/bin/python benchmarks/gpu_study.py --out $OUT                  # on a GPU machine (<= 9 minutes)
    .venv/bin/python benchmarks/gpu_study.py --smoke --device cpu --out /tmp/s   # the CPU path, tiny

Generates the benchmark at 112^2 (the demo's classes and videos per class, 32 frames), then runs
``hdc study claims16`` on it with the paper's clip shape (16 frames at stride 1, 112^2), an R3D-18
of ``--width`` and ``--steps`` steps of ``--batch`` videos, rows seed-major (every row of seed 0 first,
then seed 1, ...), each row probed like the CPU study (features at every level, linear probes of the
action, appearance and motion). A row that would start after ``--budget`` seconds is skipped, so
the call ends in time with whole seeds; the table covers what finished. Writes the study folder's
``study.md`` / ``study.json`` under ``--out`` (what the device tool brings back) and prints the table.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

ROWS = ["random", "hdc", "whole", "tc_only", "sc_only", "hdc_last"]


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--out", type=Path, required=True, help="study folder (study.md, study.json)")
    ap.add_argument("--data", type=Path, default=None, help="benchmark folder (default: OUT/bench, generated)")
    ap.add_argument("--rows", nargs="+", default=ROWS)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--width", type=float, default=0.5)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--budget", type=float, default=480.0, help="seconds after which no further row starts")
    ap.add_argument("--device", default="cuda")
    a = ap.parse_args(argv)
    import torch

    from hdc_video.logs import setup_logging
    from hdc_video.synth import generate_benchmark
    from hdc_video.workflows.study import format_study, load_grid, run_study

    if a.device == "cuda" and not torch.cuda.is_available():
        print("gpu_study.py: no CUDA device here (use --device cpu --smoke to test the script)")
        return 3
    setup_logging(False, None)
    t0 = time.perf_counter()
    size, frames, vpc, steps, batch = (a.size, 32, 16, a.steps, a.batch) if not a.smoke else (32, 24, 3, 2, 4)
    data = a.data or a.out / "bench"
    if not (data / "meta.json").exists():
        generate_benchmark(
            data,
            digits=6 if not a.smoke else 2,
            videos_per_class=vpc,
            test_groups=max(1, vpc // 4),
            frames=frames,
            size=size,
            seed=0,
            glyphs="shapes",
            variant="textures",
            workers=8,
            progress=False,
        )
    over = [
        f"model.width={a.width}",
        f"data.size={size}",
        f"train.steps={steps}",
        f"train.batch_size={batch}",
        f"train.device={a.device}",
        "train.log_every=25",
        "train.ckpt_every=1000",
    ]
    if a.smoke:
        over += [
            "model.width=0.125",
            "method.head_hidden=16",
            "method.head_dim=8",
            "data.clip_len=8",
            "data.workers=0",
            "train.warmup_steps=1",
            "method.sc_min_steps=1",
        ]
    grid = load_grid("claims16")
    seeds = a.seeds[:1] if a.smoke else a.seeds
    done = []
    for seed in seeds:
        for row in a.rows:
            if time.perf_counter() - t0 > a.budget:
                print(f"budget of {a.budget:.0f} s spent: {row} seed {seed} and later rows not run")
                break
            run_study(grid, data, a.out, seeds=[seed], rows=[row], extra=over, progress=False)
            done.append((row, seed))
    summary = run_study(grid, data, a.out, seeds=seeds, rows=[], extra=over, progress=False) if not done else None
    table = (a.out / "study.md").read_text() if (a.out / "study.md").exists() else format_study(summary)
    print(table)
    print(f"{len(done)} row x seed runs in {time.perf_counter() - t0:.0f} s on {a.device}; settings: {' '.join(over)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
