"""The ``hdc`` command line: ``synth``, ``pretrain``, ``linear``, ``demo``, ``backbones``.

Every known failure (bad config, bad data, unreadable checkpoint, a run that diverged) ends with
one line ``hdc: error: …`` and exit status 2 (usage/config) or 1 (everything else).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

EPILOG_PRETRAIN = """\
config: defaults <- --config files (in order; a bundled name like hdc, sc_only, tc_only, whole,
demo, or a path) <- key=value overrides, e.g.  model.backbone=r2plus1d_18 model.width=0.5
method.weighting=uniform train.steps=2000 data.clip_len=8. Unknown keys and wrong types are
rejected before any work. Writes RUN/config.yaml, RUN/checkpoint.pt (atomically, every
train.ckpt_every steps and at the end), RUN/metrics.jsonl, RUN/tb/ (TensorBoard) and RUN/log.txt.
"""


def _add_synth(sub):
    p = sub.add_parser("synth", help="write the built-in benchmark (real videos, UCF101 layout)",
                       description="Generate the built-in digits x motions action benchmark as real video "
                                   "files in the UCF101 layout (videos/, splits/, attributes.csv).")
    p.add_argument("out", type=Path, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--digits", type=int, default=10, help="appearance classes (digits 0..N-1, max 10)")
    p.add_argument("--motions", type=int, default=6, help="motion classes (max 8)")
    p.add_argument("--videos-per-class", type=int, default=8, help="videos (groups) per action class")
    p.add_argument("--test-groups", type=int, default=None, help="groups held out for testing (default: 1/4)")
    p.add_argument("--frames", type=int, default=32, help="frames per video")
    p.add_argument("--size", type=int, default=64, help="frame width and height (even)")
    p.add_argument("--ext", default="avi", choices=["avi", "mp4", "mkv"], help="container (avi = mpeg4 like UCF101)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark in OUT")


def _add_pretrain(sub):
    p = sub.add_parser("pretrain", help="HDC self-supervised pretraining", epilog=EPILOG_PRETRAIN,
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Pretrain a 3D-CNN with HDC (or an ablation) on the training split of a "
                                   "UCF101-layout dataset.")
    p.add_argument("--data", required=True, type=Path, help="dataset root (videos/ + splits/)")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--config", action="append", default=[], metavar="FILE",
                   help="YAML config or bundled name (repeatable; later wins)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")


def _add_linear(sub):
    p = sub.add_parser("linear", help="linear probe of frozen features",
                       description="Linear probe: frozen backbone, pooled last-stage features averaged over "
                                   "--num-clips uniformly spaced centre-cropped clips per video, a logistic "
                                   "regression on the training split, top-1 on the test split.")
    p.add_argument("--checkpoint", type=Path, help="pretraining checkpoint (file or run folder)")
    p.add_argument("--data", required=True, type=Path, help="dataset root")
    p.add_argument("--split", type=int, default=1, help="UCF101 split (1-3)")
    p.add_argument("--labels", type=Path, help="CSV with per-video labels (e.g. attributes.csv)")
    p.add_argument("--label-column", default=None, help="column of --labels to probe (e.g. motion)")
    p.add_argument("--out", required=True, type=Path, help="folder for metrics.json")
    p.add_argument("--random-init", action="store_true",
                   help="evaluate an untrained backbone of the checkpoint's (or --backbone's) architecture")
    p.add_argument("--backbone", help="architecture for --random-init without --checkpoint")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier with --backbone")
    p.add_argument("--num-clips", type=int, default=5, help="clips per video")
    p.add_argument("--level", type=int, default=-1, help="stage to probe (-1 = last)")
    p.add_argument("--clip-len", type=int, help="frames per clip (default: the checkpoint's)")
    p.add_argument("--stride", type=int, help="frame stride (default: the checkpoint's)")
    p.add_argument("--size", type=int, help="crop size (default: the checkpoint's)")
    p.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the classifier")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0, help="seed of --random-init weights")


def _add_demo(sub):
    p = sub.add_parser("demo", help="the whole story on the built-in benchmark in minutes",
                       description="Generate the built-in benchmark, pretrain a tiny HDC model, probe appearance, "
                                   "motion and action with it and with a random-init network, print one table.")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    p.add_argument("--steps", type=int, default=None, help="pretraining steps (default: the demo config's)")
    p.add_argument("--config", default="demo", help="pretraining config (bundled name or file)")
    p.add_argument("--overwrite", action="store_true", help="start over if --out holds an earlier demo")


def build_parser() -> argparse.ArgumentParser:
    from hdc_video import __version__

    parser = argparse.ArgumentParser(prog="hdc", description="HDC: hierarchically decoupled spatial-temporal "
                                     "contrast for self-supervised video representation learning.")
    parser.add_argument("--version", action="version", version=f"hdc-video {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_synth(sub)
    _add_pretrain(sub)
    _add_linear(sub)
    _add_demo(sub)
    sub.add_parser("backbones", help="list the registered backbones")
    return parser


def setup_logging(verbose: bool = False, log_file: Path | None = None) -> None:
    root = logging.getLogger("hdc_video")
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not root.handlers:
        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        root.addHandler(h)
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file)
        fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(fh)


def cmd_synth(a) -> int:
    from hdc_video.data.synth import generate_benchmark

    out = generate_benchmark(a.out, digits=a.digits, motions=a.motions, videos_per_class=a.videos_per_class,
                             frames=a.frames, size=a.size, seed=a.seed, ext=a.ext, test_groups=a.test_groups,
                             workers=a.workers, overwrite=a.overwrite)
    print(f"benchmark written to {out}")
    return 0


def cmd_pretrain(a) -> int:
    from hdc_video.train.pretrain import pretrain

    setup_logging(a.verbose, a.out / "log.txt")
    summary = pretrain(a.data, a.out, a.config, a.overrides, resume=a.resume, progress=not a.no_progress)
    print(json.dumps({k: v for k, v in summary.items() if k != "skipped_in_main_process"}))
    return 0


def cmd_linear(a) -> int:
    from hdc_video.eval.probe import run_linear

    metrics = run_linear(a)
    print(json.dumps(metrics, indent=1))
    return 0


def cmd_demo(a) -> int:
    from hdc_video.demo import run_demo

    setup_logging(a.verbose, None)
    run_demo(a.out, steps=a.steps, config=a.config, overwrite=a.overwrite)
    return 0


def cmd_backbones(a) -> int:
    from hdc_video.models.registry import available_backbones

    print("\n".join(available_backbones()))
    return 0


def main(argv: list[str] | None = None) -> int:
    from hdc_video.config import ConfigError
    from hdc_video.data.errors import DataError, DecodeError
    from hdc_video.train.checkpoint import CheckpointError
    from hdc_video.train.pretrain import TrainingError

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    handler = {"synth": cmd_synth, "pretrain": cmd_pretrain, "linear": cmd_linear, "demo": cmd_demo,
               "backbones": cmd_backbones}[args.command]
    try:
        return handler(args)
    except ConfigError as e:
        print(f"hdc: error: {e}", file=sys.stderr)
        return 2
    except (DataError, DecodeError, CheckpointError, TrainingError, KeyError, ValueError, OSError) as e:
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        # an error re-raised from a DataLoader worker carries the worker's traceback: keep its last line
        lines = [ln for ln in msg.splitlines() if ln.strip()]
        print(f"hdc: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hdc: interrupted; the last checkpoint (if any) is intact", file=sys.stderr)
        return 130
