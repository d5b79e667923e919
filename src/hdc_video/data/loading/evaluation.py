"""Evaluation clips: every video as ``num_clips`` evenly spaced clips, centre- or three-cropped.

A video that fails to decode is logged, counted in ``skipped`` and returned as ``None``, which
:func:`collate_skip_none` drops, so evaluation reports the file rather than crashing.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data._utils.collate import default_collate

from ..decoders.base import Decoder
from ..indexes.types import VideoIndex
from ..sampling.clips import uniform_clips
from ..transforms.eval import center_clip, three_crop
from .skips import skip_reason

log = logging.getLogger("hdc_video.data")

__all__ = ["EvalClipDataset", "collate_skip_none"]


class EvalClipDataset(Dataset):
    """``ds[i] -> {"video": float [num_clips * crops, 3, T, S, S], "label": int, "index": i}`` or
    ``None`` for a video that fails (logged, counted in ``skipped``). ``crops=1``: the centre crop;
    ``crops=3``: left/centre/right along the long side (:func:`three_crop`), clip-major."""

    def __init__(
        self, index: VideoIndex, decoder: Decoder, clip_len: int, stride: int, num_clips: int, size: int, crops: int = 1
    ):
        if crops not in (1, 3):
            raise ValueError(f"crops must be 1 or 3, got {crops}")
        self.index, self.decoder = index, decoder
        self.clip_len, self.stride, self.num_clips, self.size = clip_len, stride, num_clips, size
        self.crops = crops
        self.skipped: collections.Counter = collections.Counter()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict | None:
        entry = self.index[int(i)]
        try:
            n = self.decoder.info(entry.path).num_frames
            clips = uniform_clips(n, self.clip_len, self.stride, self.num_clips)
            flat = np.concatenate(clips)
            union, inverse = np.unique(flat, return_inverse=True)
            frames = self.decoder.decode(entry.path, union)[torch.from_numpy(inverse)]
            per_clip = frames.view(self.num_clips, self.clip_len, *frames.shape[1:])
            crop = center_clip if self.crops == 1 else three_crop
            video = crop(per_clip, self.size)
        except Exception as exc:  # noqa: BLE001
            reason = skip_reason(exc)
            log.warning("skipping %s: %s", entry.path, reason)
            self.skipped[str(entry.path)] = reason
            return None
        return {"video": video, "label": int(entry.label), "index": int(i)}


def collate_skip_none(batch: Sequence[dict | None]):
    """``default_collate`` over the non-``None`` samples; ``None`` when all of them failed."""
    batch = [b for b in batch if b is not None]
    return default_collate(batch) if batch else None
