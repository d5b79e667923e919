"""``hdc finetune``: the fine-tuning protocol (docs/PROTOCOLS.md). :func:`run_finetune` is the entry
point; :mod:`.setup` resolves options, split and network, :mod:`.trainer` trains and tests,
:mod:`.predict` scores the test clips."""

from __future__ import annotations

import logging
from pathlib import Path

from hdc_video import dist
from hdc_video.config import FinetuneConfig
from hdc_video.eval.finetune.predict import average_video_predictions, eval_batches, predict_clips
from hdc_video.eval.finetune.setup import FORMAT, check_world, finetune_options
from hdc_video.eval.finetune.trainer import Finetuner
from hdc_video.models.classifier import FinetuneNet, GlobalBatchDropout
from hdc_video.train import distributed as ddp
from hdc_video.train.runner import enter_run
from hdc_video.train.runtime import resolve_device

log = logging.getLogger("hdc_video")

__all__ = [
    "FORMAT",
    "FinetuneConfig",
    "FinetuneNet",
    "Finetuner",
    "GlobalBatchDropout",
    "average_video_predictions",
    "check_world",
    "eval_batches",
    "predict_clips",
    "run_finetune",
]


def run_finetune(given: dict, out: str | Path, resume: bool | str = False, progress: bool = True) -> dict:
    """Fine-tune with the options ``given`` (FinetuneConfig field names; ``None`` = not given) into
    ``out`` (``resume``: as :func:`hdc_video.train.runner.open_run`); returns the test metrics.

    Under ``torchrun`` every rank runs this; all of them read the checkpoint to resume from, only
    rank 0 writes into ``out``."""
    out = Path(out)
    opts, state = finetune_options(given, out, resume)
    device = resolve_device(opts.device)
    ddp.init_distributed(device)  # every rank refuses a bad world alike, before any writing
    check_world(opts, dist.world_size(), device)
    enter_run(opts.device, out)
    trainer = Finetuner(opts, out, state, progress=progress)
    if state is not None:
        log.info("resuming %s after epoch %d of %d", out, trainer.epoch, opts.epochs)
    return trainer.run()
