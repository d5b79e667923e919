"""Clip predictions of a classifier over a test split, and their video-level scores.

:func:`predict_clips` runs ``num_clips x crops`` views of every test video through a model
(sharded over the ranks under torchrun, gathered back in index order: every rank ends with the
arrays one process would compute); :func:`average_video_predictions` averages the softmax over a
video's views and scores top-1 / top-k at clip and video level.
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from hdc_video import dist
from hdc_video.data.decoders import make_decoder
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex
from hdc_video.data.loading.evaluation import EvalClipDataset, collate_skip_none
from hdc_video.data.loading.pretrain import worker_init as _worker_init
from hdc_video.train.runtime import autocast

log = logging.getLogger("hdc_video.eval")

__all__ = ["average_video_predictions", "eval_batches", "gather_logits", "loader_generator", "predict_clips"]


def average_video_predictions(clip_logits, labels, k: int = 5) -> tuple[dict[str, float], np.ndarray]:
    """``clip_logits [V, N, K]`` (N = clips x crops of each video), ``labels [V]`` ->
    (``top1_clip``, ``top5_clip`` -- every clip x crop scored alone -- and ``top1_video``,
    ``top5_video`` from the softmax averaged over a video's N views; top-5 is top-min(5, K)),
    and the video probabilities ``[V, K]``."""
    logits = torch.as_tensor(np.asarray(clip_logits), dtype=torch.float64)
    if logits.dim() != 3:
        raise ValueError(f"clip_logits must be [videos, clips, classes], got {tuple(logits.shape)}")
    y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    v, n, num_classes = logits.shape
    kk = min(k, num_classes)
    probs = logits.softmax(-1)
    video = probs.mean(1)

    def topk(scores: torch.Tensor, target: torch.Tensor, j: int) -> float:
        hit = (scores.topk(j, dim=-1).indices == target[:, None]).any(-1)
        return float(hit.double().mean()) if len(hit) else 0.0

    clip_y = y.repeat_interleave(n)
    metrics = {
        "top1_clip": topk(probs.reshape(v * n, -1), clip_y, 1),
        "top5_clip": topk(probs.reshape(v * n, -1), clip_y, kk),
        "top1_video": topk(video, y, 1),
        "top5_video": topk(video, y, kk),
    }
    return metrics, video.numpy()


def loader_generator(seed: int) -> torch.Generator:
    # A private generator keeps DataLoader iterators from consuming the global RNG (dropout's).
    return torch.Generator().manual_seed(seed)


def eval_batches(n: int, videos_per_batch: int, rank: int = 0, world: int = 1) -> list[list[int]]:
    """This rank's batches of video indices: the single-process batches (``videos_per_batch``
    consecutive videos each) dealt round-robin, rank r taking batches r, r + world, … Every
    forward pass therefore holds the same videos as in one process (same numerics), and the
    ranks' shares differ by at most one batch."""
    starts = range(0, n, max(1, videos_per_batch))
    return [list(range(s, min(s + videos_per_batch, n))) for s in starts][rank::world]


def gather_logits(
    out: np.ndarray | None, keep: np.ndarray, views: int, device: torch.device
) -> tuple[np.ndarray | None, np.ndarray]:
    """Every rank's rows summed into the full arrays on every rank. Each decoded video's row comes
    from exactly one rank and the others add zeros, so the sum is exact and in index order."""
    comm = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    k = torch.tensor([0 if out is None else out.shape[-1]], dtype=torch.int64, device=comm)
    torch.distributed.all_reduce(k, op=torch.distributed.ReduceOp.MAX)  # a rank that decoded nothing has not seen K
    n, k = len(keep), int(k)
    kept = dist.all_reduce_sum(torch.from_numpy(keep.astype(np.int32)).to(comm)).cpu().numpy() > 0
    if k == 0:
        return None, kept
    if out is None:
        out = np.zeros((n, views, k), dtype=np.float32)
    rows = max(1, (64 << 20) // (4 * views * k))  # ~64 MB per collective
    for lo in range(0, n, rows):
        part = torch.from_numpy(np.ascontiguousarray(out[lo : lo + rows])).to(comm)
        out[lo : lo + rows] = dist.all_reduce_sum(part).cpu().numpy()
    return out, kept


@torch.no_grad()
def predict_clips(
    model: nn.Module,
    index: VideoIndex,
    clip_len: int,
    stride: int,
    size: int,
    num_clips: int,
    crops: int,
    batch_size: int,
    workers: int,
    device: torch.device,
    dtype: torch.dtype | None,
    progress: bool = True,
    desc: str = "test",
) -> tuple[np.ndarray, np.ndarray]:
    """Logits of every clip x crop of every video: ``float32 [V, num_clips * crops, K]`` and a
    ``keep`` mask (False for videos that failed to decode; their rows are zero).

    Distributed: each rank predicts its share of the batches (:func:`eval_batches`; the batches
    are those of one process, about ``2 x batch_size`` clips per forward pass on every rank) and
    the result, gathered, is the full arrays on every rank, equal to one process's. ``model``
    must hold the same weights and buffers on every rank. ``progress``: rank 0 only."""
    ds = EvalClipDataset(index, make_decoder("auto"), clip_len, stride, num_clips, size, crops=crops)
    views = num_clips * crops
    videos_per_batch = max(1, (2 * batch_size) // views)  # about 2 x batch_size clips per forward
    world, rank = dist.world_size(), dist.rank()
    loader = DataLoader(
        ds,
        batch_sampler=eval_batches(len(ds), videos_per_batch, rank, world),
        num_workers=workers,
        collate_fn=collate_skip_none,
        generator=loader_generator(0),
        worker_init_fn=_worker_init if workers > 0 else None,
    )
    was_training, out, keep = model.training, None, np.zeros(len(index), dtype=bool)
    model.eval()
    for batch in tqdm(
        loader, desc=desc, unit="batch", disable=not (progress and rank == 0), dynamic_ncols=True, leave=False
    ):
        if batch is None:
            continue
        video, idx = batch["video"].to(device, non_blocking=True), batch["index"].numpy()
        with autocast(device, dtype):
            logits = model(video.flatten(0, 1)).float()
        logits = logits.view(len(idx), views, -1).cpu().numpy()
        if out is None:
            out = np.zeros((len(index), views, logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
        keep[idx] = True
    model.train(was_training)
    if world > 1:
        out, keep = gather_logits(out, keep, views, device)
    if out is None:
        raise DataError(f"{index.root}: no test video could be decoded")
    if (~keep).any() and rank == 0:
        log.warning(
            "%d of %d videos could not be decoded and are left out of the evaluation", int((~keep).sum()), len(index)
        )
    return out, keep
