"""Datasets and the pretraining DataLoader.

Determinism: every pretraining sample is a pure function of ``(index, sample_seed)``, and
:class:`EpochSampler` derives the ``(index, sample_seed)`` stream from ``(seed, epoch)`` alone, so
a run gives the same batches whatever the number of workers, and a resumed run
(``set_start(k)``) continues exactly at batch ``k``.

Broken videos: :class:`PretrainDataset` logs one warning line naming the file and reason, counts
it in ``skipped`` (per process: each worker keeps its own counter) and draws a replacement index
from the same seed; :class:`EvalClipDataset` logs and returns ``None`` (dropped by
:func:`collate_skip_none`) so evaluation reports the file rather than crashing.
"""

from __future__ import annotations

import collections
import logging
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from torch.utils.data._utils.collate import default_collate

from .augment import ClipAugment, center_clip
from .decode import PyAVDecoder, VideoInfo
from .errors import DataError, DecodeError
from .index import VideoIndex
from .sampler import TwoCropSampler, uniform_clips

log = logging.getLogger("hdc_video.data")

__all__ = ["EpochSampler", "PretrainDataset", "EvalClipDataset", "collate_skip_none",
           "make_pretrain_loader"]

_SEED_MASK = (1 << 63) - 1


def _reason(exc: BaseException) -> str:
    if isinstance(exc, DecodeError):
        return str(exc.reason)
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {msg}"[:200] if msg else type(exc).__name__


class EpochSampler(Sampler):
    """Yields ``(index, sample_seed)`` for one epoch.

    The order is a permutation from ``np.random.default_rng([seed, epoch])`` (identity when
    ``shuffle=False``) truncated to whole batches (``batches_per_epoch * batch_size`` samples), so
    the epoch length never depends on the worker count. ``sample_seed`` is a 63-bit integer fixed by
    ``(seed, epoch, position)``. ``set_start(k)`` skips the first ``k`` batches of the current epoch
    (resume); ``set_epoch(e)`` with a new epoch clears it.
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0, shuffle: bool = True):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if n < batch_size:
            raise DataError(f"{n} videos are fewer than one batch of {batch_size}")
        self.n, self.batch_size, self.seed, self.shuffle = int(n), int(batch_size), int(seed), shuffle
        self.epoch = 0
        self.start = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.start = 0
        self.epoch = int(epoch)

    def set_start(self, batches: int) -> None:
        if not 0 <= batches <= self.batches_per_epoch:
            raise ValueError(f"start batch {batches} outside [0, {self.batches_per_epoch}]")
        self.start = int(batches)

    def epoch_items(self, epoch: int | None = None) -> list[tuple[int, int]]:
        """The full ``(index, sample_seed)`` list of an epoch (ignoring ``set_start``)."""
        epoch = self.epoch if epoch is None else int(epoch)
        m = self.batches_per_epoch * self.batch_size
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)[:m]
        else:
            order = np.arange(m)
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(
            0, _SEED_MASK, size=m, dtype=np.int64, endpoint=True)
        return [(int(i), int(s)) for i, s in zip(order, seeds)]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        items = self.epoch_items()
        return iter(items[self.start * self.batch_size:])

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start) * self.batch_size


class PretrainDataset(Dataset):
    """``ds[(i, seed)] -> {"video": float [V, 3, T, S, S], "index": int}``.

    Views are ``[c1a, c1b, c2a, c2b]`` (``views_per_crop=2``) or ``[c1a, c1b, c2a]`` (``1``):
    both temporal crops are decoded in ONE ``decode`` call (the union of their frames), then all
    views are augmented in one batched ``augment`` call with a ``torch.Generator`` seeded by
    ``seed``. ``"index"`` is the video actually used (a replacement when ``i`` failed).
    """

    def __init__(self, index: VideoIndex, decoder: PyAVDecoder, sampler: TwoCropSampler,
                 augment: ClipAugment, views_per_crop: int = 2, max_retries: int = 10):
        if views_per_crop not in (1, 2):
            raise ValueError(f"views_per_crop must be 1 or 2, got {views_per_crop}")
        if len(index) == 0:
            raise DataError("empty video index")
        self.index, self.decoder, self.sampler, self.augment = index, decoder, sampler, augment
        self.views_per_crop = views_per_crop
        self.max_retries = int(max_retries)
        self.skipped: collections.Counter = collections.Counter()
        self._info: dict[str, VideoInfo] = {}

    @property
    def num_views(self) -> int:
        return 2 + self.views_per_crop

    def __len__(self) -> int:
        return len(self.index)

    def info(self, path) -> VideoInfo:
        key = str(path)
        if key not in self._info:
            self._info[key] = self.decoder.info(path)
        return self._info[key]

    def load(self, i: int, rng: np.random.Generator, generator: torch.Generator) -> torch.Tensor:
        """The augmented views of video ``i`` (raises on decode failure)."""
        path = self.index[i].path
        idx1, idx2 = self.sampler.sample(self.info(path).num_frames, rng)
        union, inverse = np.unique(np.concatenate([idx1, idx2]), return_inverse=True)
        frames = self.decoder.decode(path, union)  # uint8 [U, H, W, 3]
        t = len(idx1)
        c1, c2 = frames[inverse[:t]], frames[inverse[t:]]
        clips = torch.stack([c1, c1, c2, c2][: self.num_views])
        return self.augment(clips, generator)

    def __getitem__(self, key) -> dict:
        i, seed = key if isinstance(key, (tuple, list)) else (key, key)
        i, seed = int(i), int(seed) & _SEED_MASK
        rng = np.random.default_rng(seed)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(self.max_retries + 1):
            path = self.index[i].path
            try:
                return {"video": self.load(i, rng, generator), "index": i}
            except Exception as exc:  # noqa: BLE001 - any decoding failure skips the video
                reason = _reason(exc)
                log.warning("skipping %s: %s", path, reason)
                self.skipped[str(path)] = reason
                self._info.pop(str(path), None)
                i = int(rng.integers(len(self.index)))
        raise DataError(f"too many videos failed to decode: {self.max_retries + 1} in a row for one "
                        f"sample (last: {path}: {reason}); check the dataset")


class EvalClipDataset(Dataset):
    """``ds[i] -> {"video": float [num_clips, 3, T, S, S], "label": int, "index": i}`` or ``None``
    for a video that fails (logged, counted in ``skipped``)."""

    def __init__(self, index: VideoIndex, decoder: PyAVDecoder, clip_len: int, stride: int,
                 num_clips: int, size: int):
        self.index, self.decoder = index, decoder
        self.clip_len, self.stride, self.num_clips, self.size = clip_len, stride, num_clips, size
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
            video = center_clip(frames.view(self.num_clips, self.clip_len, *frames.shape[1:]), self.size)
        except Exception as exc:  # noqa: BLE001
            reason = _reason(exc)
            log.warning("skipping %s: %s", entry.path, reason)
            self.skipped[str(entry.path)] = reason
            return None
        return {"video": video, "label": int(entry.label), "index": int(i)}


def collate_skip_none(batch: Sequence[dict | None]):
    """``default_collate`` over the non-``None`` samples; ``None`` when all of them failed."""
    batch = [b for b in batch if b is not None]
    return default_collate(batch) if batch else None


def _worker_init(_worker_id: int) -> None:
    torch.set_num_threads(1)


def make_pretrain_loader(dataset: PretrainDataset, batch_size: int, seed: int, workers: int,
                         epoch: int = 0, start_batch: int = 0, pin_memory: bool = False,
                         shuffle: bool = True) -> DataLoader:
    """A DataLoader over ``dataset`` driven by :class:`EpochSampler` (``loader.sampler``): call
    ``loader.sampler.set_epoch(e)`` before each later epoch."""
    sampler = EpochSampler(len(dataset), batch_size, seed=seed, shuffle=shuffle)
    sampler.set_epoch(epoch)
    sampler.set_start(start_batch)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
                      num_workers=workers, persistent_workers=workers > 0, pin_memory=pin_memory,
                      worker_init_fn=_worker_init if workers > 0 else None)
