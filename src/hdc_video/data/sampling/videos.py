"""Video order for an epoch: :class:`EpochSampler` yields ``(index, sample_seed)`` pairs.

Determinism: every pretraining sample is a pure function of ``(index, sample_seed)``, and
:class:`EpochSampler` derives the ``(index, sample_seed)`` stream from ``(seed, epoch)`` alone, so
a run gives the same batches whatever the number of workers, and a resumed run
(``set_start(k)``) continues exactly at batch ``k``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

from ..errors import DataError

__all__ = ["EpochSampler", "SEED_MASK"]

#: sample seeds are 63-bit: the datasets mask any seed they are given to this
SEED_MASK = (1 << 63) - 1


class EpochSampler(Sampler):
    """Yields ``(index, sample_seed)`` for one epoch.

    The order is a permutation from ``np.random.default_rng([seed, epoch])`` (identity when
    ``shuffle=False``) truncated to whole batches (``batches_per_epoch * batch_size`` samples), so
    the epoch length never depends on the worker count. ``sample_seed`` is a 63-bit integer fixed by
    ``(seed, epoch, position)``. ``set_start(k)`` skips the first ``k`` batches of the current epoch
    (resume); ``set_epoch(e)`` with a new epoch clears it.

    Distributed: ``batch_size`` is the *global* batch and must be divisible by ``world_size``; the
    global order and seeds are the same as in one process, and rank ``r`` yields the ``r``-th
    contiguous slice (``local_batch = batch_size // world_size`` samples) of every global batch, so
    the union over ranks of one step's samples is the single-process batch, rank 0's rows first.
    Positions (``set_start``, ``batches_per_epoch``) count global batches.

    ``with_batch=True`` yields ``(index, sample_seed, batch)`` instead, ``batch`` being the tuple of
    the global batch's video indices (the sample's own among them): a dataset that must replace a
    broken video then picks one outside the batch (:meth:`PretrainDataset.replacement`).
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int = 0,
        shuffle: bool = True,
        rank: int = 0,
        world_size: int = 1,
        with_batch: bool = False,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside a world of {world_size}")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by the world size {world_size}")
        if n < batch_size:
            raise DataError(f"{n} videos are fewer than one batch of {batch_size}")
        self.n, self.batch_size, self.seed, self.shuffle = int(n), int(batch_size), int(seed), shuffle
        self.rank, self.world_size = int(rank), int(world_size)
        self.with_batch = bool(with_batch)
        self.epoch = 0
        self.start = 0

    @property
    def batches_per_epoch(self) -> int:
        return self.n // self.batch_size

    @property
    def local_batch(self) -> int:
        """Samples per batch on this rank."""
        return self.batch_size // self.world_size

    def set_epoch(self, epoch: int) -> None:
        if int(epoch) != self.epoch:
            self.start = 0
        self.epoch = int(epoch)

    def set_start(self, batches: int) -> None:
        if not 0 <= batches <= self.batches_per_epoch:
            raise ValueError(f"start batch {batches} outside [0, {self.batches_per_epoch}]")
        self.start = int(batches)

    def epoch_items(self, epoch: int | None = None) -> list[tuple[int, int]]:
        """The full global ``(index, sample_seed)`` list of an epoch (ignoring ``set_start`` and the rank)."""
        epoch = self.epoch if epoch is None else int(epoch)
        m = self.batches_per_epoch * self.batch_size
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch]).permutation(self.n)[:m]
        else:
            order = np.arange(m)
        seeds = np.random.default_rng([self.seed, epoch, 1]).integers(
            0, SEED_MASK, size=m, dtype=np.int64, endpoint=True
        )
        return [(int(i), int(s)) for i, s in zip(order, seeds)]

    def __iter__(self) -> Iterator[tuple]:
        items = self.epoch_items()[self.start * self.batch_size :]
        if self.world_size == 1 and not self.with_batch:
            return iter(items)
        lb, lo = self.local_batch, self.rank * self.local_batch
        out = []
        for j in range(0, len(items), self.batch_size):
            glob = items[j : j + self.batch_size]
            members = tuple(i for i, _ in glob)
            out += [(i, s, members) if self.with_batch else (i, s) for i, s in glob[lo : lo + lb]]
        return iter(out)

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.start) * self.local_batch
