"""Frozen-backbone features: N uniformly spaced, centre-cropped clips per video, pooled per level."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hdc_video.config import Config, build_config
from hdc_video.data.dataset import EvalClipDataset, collate_skip_none
from hdc_video.data.decode import PyAVDecoder
from hdc_video.data.errors import DataError
from hdc_video.data.index import VideoIndex
from hdc_video.models.registry import build_backbone
from hdc_video.train.checkpoint import CheckpointError, load_checkpoint
from hdc_video.train.runtime import autocast, resolve_device, resolve_precision

log = logging.getLogger("hdc_video")


@dataclass
class Features:
    """``clips``: ``[videos, num_clips, C]``; ``videos`` = the clip mean; rows follow ``index``."""
    clips: np.ndarray
    labels: np.ndarray
    keep: np.ndarray          # False for videos that failed to decode (their rows are zero)

    @property
    def videos(self) -> np.ndarray:
        return self.clips.mean(1)


def load_backbone(checkpoint: str | Path | None, random_init: bool = False, backbone: str | None = None,
                  width: float | None = None, seed: int = 0) -> tuple[nn.Module, Config]:
    """The pretrained backbone of ``checkpoint``, or (``random_init``) a fresh one of the same
    architecture — or of ``backbone``/``width`` when there is no checkpoint."""
    if checkpoint is not None:
        state = load_checkpoint(checkpoint)
        if "config" not in state or "model" not in state:
            raise CheckpointError(f"{checkpoint}: not an hdc-video checkpoint (no config/model)")
        cfg = build_config(base=state["config"])
    elif random_init and backbone:
        cfg = build_config(overrides=[f"model.backbone={backbone}", f"model.width={width or 1.0}"])
    else:
        raise ValueError("give --checkpoint, or --random-init with --backbone")
    torch.manual_seed(seed)
    net = build_backbone(cfg.model.backbone, width=cfg.model.width)
    if checkpoint is not None and not random_init:
        sd = {k[len("backbone."):]: v for k, v in state["model"].items() if k.startswith("backbone.")}
        missing, unexpected = net.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise CheckpointError(f"{checkpoint}: backbone does not match {cfg.model.backbone} "
                                  f"width {cfg.model.width} ({len(missing)} missing, {len(unexpected)} unexpected keys)")
    return net.eval(), cfg


@torch.no_grad()
def extract_features(net: nn.Module, index: VideoIndex, clip_len: int, stride: int, size: int,
                     num_clips: int = 5, levels: tuple[int, ...] = (-1,), batch_size: int = 8,
                     workers: int = 2, device: str = "auto", precision: str = "auto",
                     progress: bool = True, desc: str = "features") -> dict[int, Features]:
    """Features per requested level (stage index as given, e.g. -1 for the last stage)."""
    dev = resolve_device(device)
    dtype = resolve_precision(precision, dev, training=False)
    net = net.to(dev).eval()
    ds = EvalClipDataset(index, PyAVDecoder(), clip_len, stride, num_clips, size)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate_skip_none, persistent_workers=False)
    n = len(index)
    out: dict[int, np.ndarray] = {}
    keep = np.zeros(n, dtype=bool)
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not progress, dynamic_ncols=True):
        if batch is None:
            continue
        video, idx = batch["video"].to(dev), batch["index"].numpy()
        b = video.shape[0]
        with autocast(dev, dtype):
            stages = net(video.flatten(0, 1))
        for lv in levels:
            f = stages[lv].float().mean((2, 3, 4)).reshape(b, num_clips, -1).cpu().numpy()
            if lv not in out:
                out[lv] = np.zeros((n, num_clips, f.shape[-1]), dtype=np.float32)
            out[lv][idx] = f
        keep[idx] = True
    if not keep.any():
        raise DataError(f"{index.root}: no video could be decoded for feature extraction")
    if (~keep).sum():
        log.warning("%d of %d videos could not be decoded and are left out of the evaluation", (~keep).sum(), n)
    labels = np.asarray(index.labels)
    return {lv: Features(f, labels, keep) for lv, f in out.items()}
