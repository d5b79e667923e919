"""The ``hdc`` command line. Each subcommand lives in ``hdc_video.commands.<name>``.

Every known failure (bad config, bad data, unreadable checkpoint, a run that diverged) ends with
one line ``hdc: error: ...`` and exit status 2 (usage/config) or 1 (everything else). A ``KeyError``
or ``ValueError`` may be bad input the code did not type or a bug: one line too, and with ``-v`` the
traceback first.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback

from hdc_video.logs import setup_logging

COMMANDS = [
    "synth",
    "pretrain",
    "linear",
    "finetune",
    "demo",
    "study",
    "backbones",
    "report",
    "retrieve",
    "extract",
    "export",
    "verify",
    "prepare",
]


def build_parser() -> argparse.ArgumentParser:
    from hdc_video import __version__

    parser = argparse.ArgumentParser(
        prog="hdc",
        description="HDC: hierarchically decoupled spatial-temporal "
        "contrast for self-supervised video representation learning.",
    )
    parser.add_argument("--version", action="version", version=f"hdc-video {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hdc_video.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from hdc_video.checkpoint import CheckpointError
    from hdc_video.config import ConfigError
    from hdc_video.data.errors import DataError, DecodeError
    from hdc_video.train.pretrain import TrainingError

    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    handler = importlib.import_module(f"hdc_video.commands.{args.command}").run
    try:
        return handler(args)
    except ConfigError as e:
        print(f"hdc: error: {e}", file=sys.stderr)
        return 2
    except (DataError, DecodeError, CheckpointError, TrainingError, KeyError, ValueError, OSError) as e:
        typed = (DataError, DecodeError, CheckpointError, TrainingError)  # (some subclass ValueError)
        if args.verbose and isinstance(e, (KeyError, ValueError)) and not isinstance(e, typed):
            traceback.print_exc()
        msg = str(e.args[0] if isinstance(e, KeyError) and e.args else e)
        # an error re-raised from a DataLoader worker carries the worker's traceback: keep its last line
        lines = [ln for ln in msg.splitlines() if ln.strip()]
        print(f"hdc: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hdc: interrupted; the last checkpoint (if any) is intact", file=sys.stderr)
        return 130
