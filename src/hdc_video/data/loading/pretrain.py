"""Pretraining samples and their DataLoader.

:class:`PretrainDataset` turns ``(index, sample_seed)`` into the ``V`` augmented views of one video
(a pure function of the key, so batches do not depend on the number of workers);
:func:`make_pretrain_loader` drives it with :class:`~hdc_video.data.sampling.videos.EpochSampler`.

Broken videos: :class:`PretrainDataset` logs one warning line naming the file and reason, counts
it in ``skipped`` (per process: each worker keeps its own counter), reports it in the sample's
``"skipped"`` field (so the main process sees failures in workers too: :class:`SkipTracker`, fed by
the loader of :func:`make_pretrain_loader`, logs one summary line per epoch and aborts past a
failure threshold) and draws a replacement index from the same seed.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data._utils.collate import default_collate

from hdc_video.views import VIEW_CROP

from ..decoders.base import Decoder, VideoInfo
from ..errors import DataError, DecodeError
from ..indexes.badlist import drop_known_bad
from ..indexes.types import VideoIndex
from ..sampling.clips import TwoCropSampler
from ..sampling.videos import SEED_MASK, EpochSampler
from ..transforms.augment import ClipAugment
from ..transforms.device import RawViews, default_raw_size
from .info import InfoCache
from .skips import SkipTracker, skip_reason

log = logging.getLogger("hdc_video.data")

__all__ = [
    "PretrainDataset",
    "PretrainLoader",
    "RawViewsDataset",
    "collate_pretrain",
    "make_pretrain_loader",
    "worker_init",
]


class PretrainDataset(InfoCache, Dataset):
    """``ds[(i, seed)] -> {"video": float [V, 3, T, S, S], "index": int, "skipped": str}``.

    Views are ``[c1a, c1b, c2a, c2b]`` (``views_per_crop=2``) or ``[c1a, c1b, c2a]`` (``1``):
    both temporal crops are decoded in ONE ``decode`` call (each frame once), then all views are
    augmented in one ``augment(crops, generator, source=VIEW_CROP[:V])`` call (``crops``: uint8
    ``[2, T, H, W, 3]``; view ``v`` is made from crop ``source[v]``, so no full-size frame is
    copied per view) with a ``torch.Generator`` seeded by ``seed``. ``"index"`` is the video
    actually used (a replacement when ``i`` failed);
    ``"skipped"`` holds one ``path<TAB>reason`` line per video that failed on the way ("" if none;
    a string, so any collate works). A video that failed once is not decoded again in that process
    (its warning is logged once per process); a replacement and its randomness depend on
    ``(seed, attempt)`` only.

    ``short_video``: a video no longer than one clip span is ``"loop"``-ed (indices wrap, the
    sampler's rule) or ``"pad"``-ded (indices clamp: the last frame repeats). ``min_frames``: fewer
    decodable frames than this marks the video bad (a 1-3 frame file is a broken file, not a clip).
    ``known_bad``: ``"auto"`` drops the videos listed in ``<index root>/bad_videos.txt`` (written by
    ``hdc verify``) up front; a path uses that list; ``None`` keeps all (an index that
    ``open_index`` already filtered with the same list is kept as it is: the list is read once).
    """

    def __init__(
        self,
        index: VideoIndex,
        decoder: Decoder,
        sampler: TwoCropSampler,
        augment: ClipAugment,
        views_per_crop: int = 2,
        max_retries: int = 10,
        short_video: str = "loop",
        min_frames: int = 4,
        known_bad: str | Path | None = "auto",
    ):
        if views_per_crop not in (1, 2):
            raise ValueError(f"views_per_crop must be 1 or 2, got {views_per_crop}")
        if short_video not in ("loop", "pad"):
            raise ValueError(f"short_video must be 'loop' or 'pad', got {short_video!r}")
        if len(index) == 0:
            raise DataError("empty video index")
        index = drop_known_bad(index, known_bad)  # a no-op when open_index applied this list already
        if len(index) == 0:
            raise DataError("every video of the index is listed as bad (bad_videos.txt)")
        self.index, self.decoder, self.sampler, self.augment = index, decoder, sampler, augment
        self.views_per_crop = views_per_crop
        self.max_retries = int(max_retries)
        self.short_video, self.min_frames = short_video, max(int(min_frames), 1)
        self.skipped: collections.Counter = collections.Counter()
        self._info: dict[str, VideoInfo] = {}

    @property
    def num_views(self) -> int:
        return 2 + self.views_per_crop

    def __len__(self) -> int:
        return len(self.index)

    def load(
        self, i: int, rng: np.random.Generator, generator: torch.Generator, out=None
    ) -> tuple[torch.Tensor, float]:
        """The augmented views of video ``i`` (raises on decode failure), written into ``out`` if given,
        and the fraction of frames its two temporal crops share (``method.tc_overlap`` reads it)."""
        path = self.index[i].path
        n = self.info(path).num_frames
        if n < self.min_frames:
            raise DecodeError(path, f"too few frames: {n} (min_frames={self.min_frames})")
        s = self.sampler
        if self.short_video == "pad" and n <= s.span:  # clamp instead of wrapping: the last frame repeats
            a, b = s.starts(n, rng)
            steps = np.arange(s.clip_len, dtype=np.int64) * s.stride
            idx1, idx2 = np.minimum(a + steps, n - 1), np.minimum(b + steps, n - 1)
        else:
            idx1, idx2 = s.sample(n, rng)
        # one decode for both crops (each frame decoded once), returned in crop order: [c1 | c2]
        frames = self.decoder.decode(path, np.concatenate([idx1, idx2]))  # uint8 [2T, H, W, 3]
        crops = frames.view(2, len(idx1), *frames.shape[1:])
        # views [c1a, c1b, c2a(, c2b)] read their crop's frames: no copies of full-size frames
        view_of = VIEW_CROP[: self.num_views]
        overlap = len(np.intersect1d(idx1, idx2)) / len(np.unique(idx1))
        return self.augment(crops, generator, source=view_of, **({} if out is None else {"out": out})), overlap

    def __getitem__(self, key) -> dict:
        return self._fetch(key)

    def __getitems__(self, keys: Sequence) -> dict | list:
        """A whole batch for the DataLoader: each sample's views are written straight into its slot
        of one ``[B, V, 3, T, S, S]`` tensor (allocated in shared memory inside a loader worker, as
        ``default_collate`` would), so the 9.6 MB per 16x112^2 sample are not copied again by the
        collate. Returns the collated dict (``collate_pretrain`` passes it through); the same values
        as ``default_collate([self[k] for k in keys])``."""
        if not isinstance(self.augment, ClipAugment):
            return [self._fetch(k) for k in keys]
        shape = (len(keys), self.num_views, 3, self.sampler.clip_len, self.augment.size, self.augment.size)
        if torch.utils.data.get_worker_info() is not None:
            storage = torch.UntypedStorage._new_shared(int(np.prod(shape)) * 4)
            video = torch.empty(0, dtype=torch.float32).set_(storage).view(shape)
        else:
            video = torch.empty(shape, dtype=torch.float32)
        samples = [self._fetch(k, out=video[b]) for b, k in enumerate(keys)]
        return {
            "video": video,
            "index": torch.tensor([s["index"] for s in samples]),
            "overlap": torch.tensor([s["overlap"] for s in samples], dtype=torch.float32),
            "skipped": [s["skipped"] for s in samples],
        }

    def replacement(self, batch: tuple[int, ...] | None, i: int, seed: int, attempt: int) -> int:
        """The video that stands in for ``i`` at a failed ``attempt`` (1, 2, ...): a pure function of
        its arguments. With the global ``batch`` known, never one of its videos (a duplicate would be
        a false negative), and different for every position and attempt, so two replacements in one
        batch never coincide; without it (or when no video is left outside the batch), any video."""
        n = len(self.index)
        if batch is None or len(set(batch)) >= n:
            return int(np.random.default_rng([seed, 0x5EED, attempt]).integers(n))
        members = set(batch)
        outside = np.array([j for j in range(n) if j not in members], dtype=np.int64)
        base = int(np.random.default_rng([*sorted(members)[:8], 0x5EED]).integers(len(outside)))
        pos = batch.index(i) if i in members else 0
        return int(outside[(base + pos + (attempt - 1) * len(batch)) % len(outside)])

    def _fetch(self, key, out=None) -> dict:
        if isinstance(key, (tuple, list)):
            i, seed, batch = (*key, None) if len(key) == 2 else key
        else:
            i, seed, batch = key, key, None
        i, seed, first = int(i), int(seed) & SEED_MASK, int(i)
        # replacements and their randomness depend on (i, seed, batch, attempt) only, not on how far a
        # failed attempt got: a sample stays a pure function of its key in every process
        failed: list[str] = []
        for attempt in range(self.max_retries + 1):
            sub = seed if attempt == 0 else int(np.random.default_rng([seed, attempt]).integers(SEED_MASK))
            rng, generator = np.random.default_rng(sub), torch.Generator().manual_seed(sub)
            path = self.index[i].path
            try:
                if str(path) in self.skipped:  # failed before in this process: don't decode again
                    raise DecodeError(path, self.skipped[str(path)])
                video, overlap = self.load(i, rng, generator, out=out)
                return {"video": video, "index": i, "overlap": overlap, "skipped": "\n".join(failed)}
            except Exception as exc:  # noqa: BLE001 - any decoding failure skips the video
                reason = " ".join(skip_reason(exc).split())
                if str(path) not in self.skipped:
                    log.warning("skipping %s: %s", path, reason)
                self.skipped[str(path)] = reason
                failed.append(f"{path}\t{reason}")
                self._info.pop(str(path), None)
                i = self.replacement(batch, first, seed, attempt + 1)
        raise DataError(
            f"too many videos failed to decode: {self.max_retries + 1} in a row for one "
            f"sample (last: {path}: {reason}); check the dataset"
        )


def collate_pretrain(batch):
    """``default_collate``, passing through a batch that ``PretrainDataset.__getitems__`` collated."""
    return batch if isinstance(batch, dict) else default_collate(batch)


def worker_init(_worker_id: int) -> None:
    """A DataLoader worker uses one torch thread (the workers are the parallelism)."""
    torch.set_num_threads(1)


class PretrainLoader(DataLoader):
    """A DataLoader that feeds every batch to ``self.skips`` (:class:`SkipTracker`) in the main process
    and calls ``skips.end_epoch`` when a pass over the sampler completes."""

    skips: SkipTracker

    def __iter__(self):
        epoch = getattr(self.sampler, "epoch", None)
        for batch in super().__iter__():
            self.skips.update(batch)
            yield batch
        self.skips.end_epoch(epoch)


def make_pretrain_loader(
    dataset: PretrainDataset,
    batch_size: int,
    seed: int,
    workers: int,
    epoch: int = 0,
    start_batch: int = 0,
    pin_memory: bool = False,
    shuffle: bool = True,
    max_fail_frac: float | None = 0.05,
    rank: int = 0,
    world_size: int = 1,
) -> PretrainLoader:
    """A DataLoader over ``dataset`` driven by :class:`EpochSampler` (``loader.sampler``): call
    ``loader.sampler.set_epoch(e)`` before each later epoch. ``loader.skips`` (:class:`SkipTracker`)
    counts skipped videos across workers, logs one line per completed epoch and raises
    :class:`DataError` once more than ``max_fail_frac`` of the videos failed.

    ``batch_size`` is the global batch; with ``world_size > 1`` the loader yields this ``rank``'s
    slice of it (``batch_size // world_size`` samples) and ``skips`` counts this rank's failures only."""
    sampler = EpochSampler(
        len(dataset), batch_size, seed=seed, shuffle=shuffle, rank=rank, world_size=world_size, with_batch=True
    )
    sampler.set_epoch(epoch)
    sampler.set_start(start_batch)
    loader = PretrainLoader(
        dataset,
        batch_size=sampler.local_batch,
        sampler=sampler,
        drop_last=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=pin_memory,
        worker_init_fn=worker_init if workers > 0 else None,
        collate_fn=collate_pretrain,
    )
    index = getattr(dataset, "index", None)
    loader.skips = SkipTracker(len(dataset), max_fail_frac, root=getattr(index, "root", None))
    return loader


class RawViewsDataset(PretrainDataset):
    """``base``'s samples, decoded but not augmented: the worker half of the device augmentation
    path (:mod:`hdc_video.data.transforms.device`).

    ``raw_size``: ``"auto"`` (``default_raw_size`` of the crop size), ``(h, w)``, or ``None``
    (keep the decoded size: every video must then have the same size to collate).
    ``clip_augment`` is the ``ClipAugment`` to hand to ``views_to_device``.
    Works with ``make_pretrain_loader`` unchanged (use ``pin_memory=True`` on CUDA).
    """

    def __init__(self, base: PretrainDataset, raw_size: tuple[int, int] | str | None = "auto"):
        if isinstance(base, RawViewsDataset):
            raise TypeError("base is already a RawViewsDataset")
        if not isinstance(base.augment, ClipAugment):
            raise TypeError(f"base.augment must be a ClipAugment, got {type(base.augment).__name__}")
        # share base's configuration (index, decoder, sampler, retry policy, ...); fresh per-process state
        self.__dict__.update(vars(base))
        self.skipped = collections.Counter()
        self._info = {}
        self.clip_augment: ClipAugment = base.augment
        if raw_size == "auto":
            raw_size = default_raw_size(base.augment.size)
        elif isinstance(raw_size, str):
            raise ValueError(f"raw_size must be 'auto', (h, w) or None, got {raw_size!r}")
        self.raw_size = raw_size
        self.augment = RawViews(base.augment, raw_size)

    __getitems__ = None  # samples are dicts of uint8 crops + draws: the DataLoader collates them
