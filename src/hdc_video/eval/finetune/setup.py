"""Fine-tuning set-up: the run's options, its split and its network.

:func:`finetune_options` resolves a fresh run's options or a resumed run's (refusing what a resumed
run may not change); :func:`load_split` reads the train and test index (relabelled with
``--labels`` / ``--label-column``); :func:`build_network` builds the backbone (from the pretraining
checkpoint, a random init, or the fine-tuning checkpoint) with its new head.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hdc_video.checkpoint import CheckpointError
from hdc_video.config import (
    FINETUNE_RESUMABLE,
    ConfigError,
    FinetuneConfig,
    build_config,
    build_finetune_config,
    changed_keys,
)
from hdc_video.data.indexes import VideoIndex, open_index, read_labels_csv, relabel
from hdc_video.eval.settings import clip_settings
from hdc_video.eval.source import backbone_and_config
from hdc_video.models.classifier import FinetuneNet
from hdc_video.models.registry import build_backbone
from hdc_video.train.runner import open_run, refuse_changes

__all__ = ["FORMAT", "build_network", "check_world", "finetune_options", "load_split"]

FORMAT = "hdc-video-finetune/1"
PATHS = ("checkpoint", "data", "labels")


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def finetune_options(given: dict, out: Path, resume: bool | str) -> tuple[FinetuneConfig, dict | None]:
    """``(options, checkpoint state or None)``: defaults (or the resumed run's options) <- the given
    ones (``None`` = not given; paths are compared resolved)."""
    given = {k: (str(Path(v).resolve()) if k in PATHS and v is not None else v) for k, v in given.items()}
    state = open_run(out, resume, FORMAT, "fine-tuning")
    if state is None:
        return build_finetune_config(given), None
    saved = {k: (str(Path(v).resolve()) if k in PATHS and v is not None else v) for k, v in state["args"].items()}
    o = build_finetune_config(given, base=saved)
    refuse_changes(
        changed_keys(build_finetune_config({}, base=saved).to_dict(), o.to_dict()), FINETUNE_RESUMABLE, _flag
    )
    return o, state


def check_world(o: FinetuneConfig, world: int, device: torch.device) -> None:
    """Checks that need the process count (torchrun): ``--batch-size`` is the global batch, split
    evenly over the processes, and each process computes on its own GPU (``device`` as resolved
    from ``--device``, before :func:`~hdc_video.train.distributed.local_device`). Every rank
    raises alike (none is left waiting in a collective)."""
    if world > 1 and o.batch_size % world:
        raise ConfigError(f"--batch-size {o.batch_size} (the global batch) is not divisible by the {world} processes")
    if world > 1 and device.type == "cuda" and device.index is not None:
        raise ConfigError(
            f"--device {device} under torchrun: pass --device cuda (or auto), each process takes GPU LOCAL_RANK"
        )


def load_split(o: FinetuneConfig) -> tuple[VideoIndex, VideoIndex]:
    """Train and test index of the split, relabelled with ``--labels`` / ``--label-column``."""
    train = open_index(o.data, split=o.split, subset="train")
    test = open_index(o.data, split=o.split, subset="test")
    if o.labels:
        mapping = read_labels_csv(o.labels, o.label_column)
        train, test = relabel(train, mapping), relabel(test, mapping)  # classes: the whole mapping's
    return train, test


def build_network(o: FinetuneConfig, state: dict | None, num_classes: int) -> tuple[FinetuneNet, dict]:
    """The network and the backbone's config (a fresh run resolves backbone/width/clip settings into ``o``)."""
    if state is not None:
        cfg = build_config(base=state["config"])
        net = build_backbone(cfg.model.backbone, width=cfg.model.width)
    else:
        net, cfg = backbone_and_config(
            o.checkpoint, random_init=o.random_init, backbone=o.backbone, width=o.width, seed=o.seed
        )
        if o.checkpoint is not None and (
            o.backbone not in (None, cfg.model.backbone) or o.width not in (None, cfg.model.width)
        ):
            raise CheckpointError(
                f"{o.checkpoint}: holds {cfg.model.backbone} width {cfg.model.width}, not the "
                f"requested {o.backbone or cfg.model.backbone} width {o.width or cfg.model.width}"
            )
        o.backbone, o.width = cfg.model.backbone, cfg.model.width
        o.clip_len, o.stride, o.size = clip_settings(cfg, o.clip_len, o.stride, o.size)
    model = FinetuneNet(net, num_classes, o.dropout)
    if state is not None:
        try:
            model.load_state_dict(state["model"])
        except RuntimeError as e:
            raise CheckpointError(
                f"fine-tuning checkpoint does not fit its network ({str(e).splitlines()[0]})"
            ) from None
    return model, cfg.to_dict()
