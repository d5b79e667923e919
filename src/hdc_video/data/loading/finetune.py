"""Supervised training clips (fine-tuning): one random temporal clip per video, augmented.

``TrainClipDataset[(i, seed)]`` is a pure function of ``(i, seed)`` like
:class:`~hdc_video.data.loading.pretrain.PretrainDataset`, so it is driven by the same
:class:`~hdc_video.data.sampling.videos.EpochSampler` (epoch length and batches independent of the
number of workers; resumable). A video that fails to decode is logged once per failure and a
replacement index is drawn from the same seed (its own label travels with it).
"""

from __future__ import annotations

import collections
import logging

import numpy as np
import torch
from torch.utils.data import Dataset

from ..decoders.base import Decoder, VideoInfo
from ..errors import DataError
from ..indexes.types import VideoIndex
from ..sampling.clips import clip_indices
from ..sampling.videos import SEED_MASK
from ..transforms.augment import ClipAugment
from .info import InfoCache
from .skips import skip_reason

log = logging.getLogger("hdc_video.data")

__all__ = ["TrainClipDataset", "finetune_augment", "random_clip"]


def finetune_augment(size: int) -> ClipAugment:
    """Supervised-training augmentation: random resized crop + flip, a milder colour jitter than
    pretraining's (no grayscale, no blur)."""
    return ClipAugment(
        size,
        scale=(0.4, 1.0),
        flip=0.5,
        jitter=0.5,
        brightness=0.2,
        contrast=0.2,
        saturation=0.2,
        hue=0.05,
        grayscale=0.0,
        blur=0.0,
    )


def random_clip(num_frames: int, clip_len: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of one clip with a uniformly random start; a video shorter than the clip's
    span starts at a random frame and is looped."""
    span = (clip_len - 1) * stride + 1
    start = rng.integers(0, num_frames - span + 1) if num_frames >= span else rng.integers(0, num_frames)
    return clip_indices(int(start), clip_len, stride, num_frames)


class TrainClipDataset(InfoCache, Dataset):
    """``ds[(i, seed)] -> {"video": float [3, T, S, S], "label": int, "index": int}``."""

    def __init__(
        self,
        index: VideoIndex,
        decoder: Decoder,
        clip_len: int,
        stride: int,
        augment: ClipAugment,
        max_retries: int = 10,
    ):
        if len(index) == 0:
            raise DataError("empty video index")
        self.index, self.decoder, self.augment = index, decoder, augment
        self.clip_len, self.stride, self.max_retries = int(clip_len), int(stride), int(max_retries)
        self.skipped: collections.Counter = collections.Counter()
        self._info: dict[str, VideoInfo] = {}

    def __len__(self) -> int:
        return len(self.index)

    def load(self, i: int, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
        path = self.index[i].path
        idx = random_clip(self.info(path).num_frames, self.clip_len, self.stride, rng)
        union, inverse = np.unique(idx, return_inverse=True)
        frames = self.decoder.decode(path, union)[torch.from_numpy(inverse)]
        return self.augment(frames[None], generator)[0]

    def __getitem__(self, key) -> dict:
        i, seed = key if isinstance(key, (tuple, list)) else (key, key)
        i, seed = int(i), int(seed) & SEED_MASK
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(self.max_retries + 1):
            path = self.index[i].path
            try:
                return {"video": self.load(i, rng, generator), "label": int(self.index[i].label), "index": i}
            except Exception as exc:  # noqa: BLE001 - any decoding failure skips the video
                reason = skip_reason(exc)
                log.warning("skipping %s: %s", path, reason)
                self.skipped[str(path)] = reason
                self._info.pop(str(path), None)
                i = int(rng.integers(len(self.index)))
        raise DataError(
            f"too many videos failed to decode: {self.max_retries + 1} in a row for one "
            f"sample (last: {path}: {reason}); check the dataset"
        )
