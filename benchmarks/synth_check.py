"""Is the built-in benchmark a fair test? Two checks of a generated benchmark, side by side.

    .venv/bin/python benchmarks/synth_check.py --data BENCH [--epochs 15] [--smoke]

1. **No single frame reveals the motion.** A random-init R3D-18 (width 0.25) encodes every video
   twice: real clips (8 frames, stride 2) and *frozen* clips (the middle frame repeated 8 times);
   the linear-probe protocol then reads motion and appearance from each. Motion from a frozen clip
   should be near chance (a pose, a position or a size at one instant says little about how the
   glyph moves), appearance should not drop.
2. **Both factors are learnable.** A supervised fine-tuning run (`hdc finetune --random-init`, the
   same tiny network, ``--epochs`` epochs) on each factor's labels: well above chance means a
   self-supervised method has something to find.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


class FrozenDecoder:
    """A decoder that returns the middle requested frame for every requested index."""

    def __init__(self, base):
        self.base = base

    def info(self, path):
        return self.base.info(path)

    def decode(self, path, indices):
        idx = np.asarray(indices)
        mid = int(idx[len(idx) // 2])
        return self.base.decode(path, [mid]).repeat(len(idx), 1, 1, 1)


def single_frame_probe(data: Path, smoke: bool) -> list[tuple]:
    from hdc_video.data.decoders import make_decoder
    from hdc_video.data.indexes import open_index, read_labels_csv
    from hdc_video.eval.features import extract_features
    from hdc_video.eval.logistic import probe_features as linear_probe
    from hdc_video.models.registry import build_backbone

    width, clip, size, clips = (0.125, 4, 32, 1) if smoke else (0.25, 8, 64, 4)
    torch.manual_seed(0)
    net = build_backbone("r3d_18", width=width).eval()
    idx = {s: open_index(data, subset=s) for s in ("train", "test")}
    rows = []
    for name, decoder in (
        ("real clips", make_decoder("auto")),
        ("one frame, repeated", FrozenDecoder(make_decoder("auto"))),
    ):
        feats = {
            s: extract_features(net, index, clip, 2, size, num_clips=clips, workers=0, progress=False, decoder=decoder)[
                -1
            ]
            for s, index in idx.items()
        }
        for col in ("motion", "appearance"):
            mapping = read_labels_csv(data / "attributes.csv", col)
            classes = sorted(set(mapping.values()))
            ytr = np.array([classes.index(mapping[e.rel]) for e in idx["train"]])
            yte = np.array([classes.index(mapping[e.rel]) for e in idx["test"]])
            res = linear_probe(feats["train"], feats["test"], ytr, yte)
            rows.append((f"{name}: {col}", res["top1_video"], 1.0 / len(classes)))
    return rows


def supervised(data: Path, epochs: int, smoke: bool) -> list[tuple]:
    from hdc_video.cli import main

    rows = []
    for col in ("motion", "appearance"):
        out = Path(tempfile.mkdtemp(prefix=f"hdc-synth-check-{col}-"))
        size = (
            ["--clip-len", "4", "--size", "32", "--width", "0.125"]
            if smoke
            else ["--clip-len", "8", "--size", "64", "--width", "0.25"]
        )
        args = [
            "finetune",
            "--random-init",
            "--backbone",
            "r3d_18",
            *size,
            "--stride",
            "2",
            "--data",
            str(data),
            "--labels",
            str(data / "attributes.csv"),
            "--label-column",
            col,
            "--epochs",
            str(1 if smoke else epochs),
            "--batch-size",
            "8" if smoke else "32",
            "--optimizer",
            "adamw",
            "--lr",
            "0.002",
            "--weight-decay",
            "0.05",
            "--num-clips",
            "2" if smoke else "4",
            "--val-clips",
            "0",
            "--workers",
            "0" if smoke else "1",
            "--out",
            str(out),
            "--no-progress",
        ]
        assert main(args) == 0
        import json

        m = json.loads((out / "metrics.json").read_text())
        rows.append((f"supervised {col}", m["top1_video"], m["chance"]))
    return rows


def main(argv=None) -> int:
    ap = C.parser(__doc__)
    ap.add_argument("--data", type=Path, default=None, help="benchmark root (default: a generated one)")
    ap.add_argument(
        "--epochs", type=int, default=15, help="supervised epochs per factor (0: skip the supervised check)"
    )
    a = ap.parse_args(argv)
    C.setup_threads(a.threads)
    data = a.data
    if data is None:
        from hdc_video.synth import generate_benchmark

        data = Path(tempfile.mkdtemp(prefix="hdc-synth-check-")) / "bench"
        spec = (
            dict(digits=3, motions=3, videos_per_class=4, frames=16, size=32)
            if a.smoke
            else dict(digits=6, motions=5, videos_per_class=40, test_groups=10)
        )
        generate_benchmark(data, nuisance="scene", glyphs="shapes", progress=False, **spec)
    rows = single_frame_probe(data, a.smoke) + (supervised(data, a.epochs, a.smoke) if a.epochs else [])
    C.table(
        f"benchmark check: {data}",
        ["what", "video top-1", "chance"],
        rows,
        notes=[
            "linear probe of a random-init R3D-18 (width 0.25) on real / frozen clips; supervised: "
            f"hdc finetune --random-init, {a.epochs} epochs",
            C.machine_line(),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
