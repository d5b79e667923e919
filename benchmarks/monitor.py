"""Cost of the online kNN monitor against the training it watches, measured side by side.

    .venv/bin/python benchmarks/monitor.py [--config demo] [--every 50] [--videos 512] [--steps 20] [--smoke]

Builds the trainer of ``--config`` (the demo's by default) on the built-in benchmark, then times,
interleaved: ``--steps`` real training steps (loader included: ``Pretrainer.run`` over that many
steps) and one monitor measurement (``KnnMonitor.measure``: ``2 x --videos`` cached centre clips
through the frozen backbone, kNN of every label). The ratio reported is the monitor's share of a
run that measures every ``--every`` steps:

    cost = measure / (every x step + measure)          target <= 10 %

The one-off start-up (decoding the monitor's clips into memory) is reported separately: it is paid
once per run (and once more per resume).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--config", default="demo")
    ap.add_argument("--every", type=int, default=50, help="train.monitor_every to cost")
    ap.add_argument("--videos", type=int, default=512, help="train.monitor_videos")
    ap.add_argument("--steps", type=int, default=20, help="timed training steps per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data", type=Path, default=None, help="dataset root (default: a generated benchmark)")
    a = ap.parse_args(argv)
    C.setup_threads(a.threads)
    from hdc_video.config import build_config
    from hdc_video.train.monitor import KnnMonitor
    from hdc_video.train.pretrain import Pretrainer

    tmp = Path(tempfile.mkdtemp(prefix="hdc-bench-monitor-"))
    data = a.data or C.builtin_set(tmp / "bench", smoke=a.smoke)
    steps = 2 if a.smoke else a.steps
    over = C.tiny_overrides(a.smoke) + [
        f"train.monitor_videos={a.videos}",
        "train.ckpt_every=100000",
        "train.log_every=100000",
    ]
    cfg = build_config([a.config], over + [f"train.steps={10**6}"])
    trainer = Pretrainer(cfg, data, tmp / "run", progress=False)
    t0 = time.perf_counter()
    monitor = KnnMonitor(data, cfg, trainer.device, trainer.dtype, trainer.runtime["channels_last"])
    startup = time.perf_counter() - t0
    batches = trainer._batches()
    trainer.net.train()

    def train():
        for _ in range(steps):
            batch = next(batches)
            trainer.step(batch["video"].to(trainer.device), batch.get("overlap"))

    times = C.interleaved(
        {"train": train, "measure": lambda: monitor.measure(trainer.model.backbone)},
        rounds=1 if a.smoke else a.rounds,
        warmup=1,
        device=trainer.device,
        clock_name=a.clock,
    )
    step = times["train"] / steps
    cost = times["measure"] / (a.every * step + times["measure"])
    n = sum(len(c) for c in monitor.clips.values())
    C.table(
        f"kNN monitor cost: config {a.config}, {n} monitor clips, {len(monitor.names)} labels, "
        f"batch {cfg.train.batch_size} x {trainer.dataset.num_views} views, {a.clock} seconds",
        ["what", "seconds", f"share of a run (every {a.every} steps)"],
        [
            ("training step", step, float("nan")),
            ("monitor measurement", times["measure"], cost),
            ("monitor start-up (once)", startup, float("nan")),
        ],
        notes=["share = measure / (every x step + measure); target <= 0.10", C.machine_line()],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
