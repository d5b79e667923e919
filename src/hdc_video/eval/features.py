"""Frozen-backbone features: N uniformly spaced, centre-cropped clips per video, pooled per level.

Under ``torchrun`` (``WORLD_SIZE`` > 1) :func:`extract_features` joins the process group, each rank
encodes the videos ``rank::world_size`` of the index, and the features are summed into full arrays
on every rank (each row comes from exactly one rank, the others add zeros: exact), so every rank
returns the same :class:`Features` as one process would; writing files is the caller's job, on
rank 0 only (``hdc_video.dist.is_main``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm.auto import tqdm

from hdc_video import dist
from hdc_video.data.decoders import make_decoder
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex
from hdc_video.data.loading.evaluation import EvalClipDataset, collate_skip_none
from hdc_video.train import distributed as ddp
from hdc_video.train.runtime import autocast, resolve_device, resolve_precision

log = logging.getLogger("hdc_video")


@dataclass
class Features:
    """``clips``: ``[videos, num_clips, C]``; ``videos`` = the clip mean; rows follow ``index``."""

    clips: np.ndarray
    labels: np.ndarray
    keep: np.ndarray  # False for videos that failed to decode (their rows are zero)

    @property
    def videos(self) -> np.ndarray:
        return self.clips.mean(1)

    def decoded(self) -> Features:
        """Only the rows of videos that were decoded (all of them ``keep``)."""
        return Features(self.clips[self.keep], self.labels[self.keep], np.ones(int(self.keep.sum()), dtype=bool))


@torch.no_grad()
def extract_features(
    net: nn.Module,
    index: VideoIndex,
    clip_len: int,
    stride: int,
    size: int,
    num_clips: int = 5,
    levels: tuple[int, ...] = (-1,),
    batch_size: int = 8,
    workers: int = 2,
    device: str = "auto",
    precision: str = "auto",
    progress: bool = True,
    desc: str = "features",
    decoder=None,
) -> dict[int, Features]:
    """Features per requested level (stage index as given, e.g. -1 for the last stage);
    ``decoder``: any :class:`~hdc_video.data.decoders.Decoder` (default ``make_decoder("auto")``).

    Distributed (torchrun): videos are sharded over the ranks and the result, gathered, is the same
    on every rank; ``progress`` is shown by rank 0 only."""
    dev = resolve_device(device)
    ddp.init_distributed(dev)  # no-op outside torchrun
    dev = ddp.local_device(dev)
    dtype = resolve_precision(precision, dev, training=False)
    net = net.to(dev).eval()
    ds = EvalClipDataset(index, decoder or make_decoder("auto"), clip_len, stride, num_clips, size)
    world, rank = dist.world_size(), dist.rank()
    shard = ds if world == 1 else Subset(ds, range(rank, len(ds), world))  # items keep their "index"
    loader = DataLoader(
        shard,
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_skip_none,
        persistent_workers=False,
    )
    n = len(index)
    out: dict[int, np.ndarray] = {}
    keep = np.zeros(n, dtype=bool)
    for batch in tqdm(loader, desc=desc, unit="batch", disable=not (progress and rank == 0), dynamic_ncols=True):
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
    if world > 1:
        out, keep = _gather_features(out, keep, list(dict.fromkeys(levels)), n, num_clips, dev)
    if not keep.any():
        raise DataError(f"{index.root}: no video could be decoded for feature extraction")
    if (~keep).sum():
        log.warning("%d of %d videos could not be decoded and are left out of the evaluation", (~keep).sum(), n)
    labels = np.asarray(index.labels)
    return {lv: Features(f, labels, keep) for lv, f in out.items()}


def _gather_features(
    out: dict[int, np.ndarray], keep: np.ndarray, levels: list[int], n: int, num_clips: int, dev: torch.device
) -> tuple[dict[int, np.ndarray], np.ndarray]:
    """Sum every rank's (zero-elsewhere) arrays into the full ones, on every rank, chunk by chunk."""
    comm = dev if dist.is_distributed() and torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    # a rank that decoded nothing has not seen the feature sizes: take them from the ranks that did
    dims = torch.tensor([out[lv].shape[-1] if lv in out else 0 for lv in levels], dtype=torch.int64, device=comm)
    torch.distributed.all_reduce(dims, op=torch.distributed.ReduceOp.MAX)
    full: dict[int, np.ndarray] = {}
    rows = max(1, (64 << 20) // max(1, 4 * num_clips * int(dims.max())))  # ~64 MB per collective
    for lv, c in zip(levels, dims.tolist()):
        if c == 0:
            continue  # no rank decoded anything
        arr = out.get(lv)
        if arr is None:
            arr = np.zeros((n, num_clips, c), dtype=np.float32)
        for lo in range(0, n, rows):
            part = torch.from_numpy(np.ascontiguousarray(arr[lo : lo + rows])).to(comm)
            arr[lo : lo + rows] = dist.all_reduce_sum(part).cpu().numpy()
        full[lv] = arr
    k = dist.all_reduce_sum(torch.from_numpy(keep.astype(np.int32)).to(comm)).cpu().numpy()
    return full, k > 0
