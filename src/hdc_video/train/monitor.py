"""The online kNN monitor: does pretraining learn the labels, or a shortcut?

Every ``train.monitor_every`` steps the frozen backbone (eval mode, no gradient) encodes one centre
clip of a fixed subset of training videos (the bank) and of test videos (the queries); a weighted
kNN (:func:`hdc_video.train.knn.knn_top1`, cosine, ``k = train.monitor_k``) predicts every label the
dataset has -- the action class and each column of ``<data>/attributes.csv`` -- from the last
stage's pooled features. The same numbers for the network at step 0 are measured first and kept
(in the checkpoint, for a resumed run): a number that falls below its step-0 value by more than
``train.monitor_tolerance`` means the run is learning something that tells videos apart *instead
of* the labels (background, colour, camera motion), and one warning line says so.

The clips are decoded once, at start-up, and kept in memory (normalised, fp16): a measurement is one
forward pass over ``2 x train.monitor_videos`` clips (its cost: ``benchmarks/monitor.py``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hdc_video.data.decoders import make_decoder
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex, open_index, read_label_table
from hdc_video.data.loading.evaluation import EvalClipDataset
from hdc_video.train.knn import knn_top1
from hdc_video.train.runtime import autocast

log = logging.getLogger("hdc_video")

__all__ = ["KnnMonitor", "label_columns"]


def label_columns(index: VideoIndex, table: dict[str, dict[str, str]], columns: list[str]) -> dict[str, np.ndarray]:
    """``{"action": ids, <column>: ids, ...}`` for the videos of ``index`` (string values mapped to
    integers in sorted order; a video without a value gets -1)."""
    out = {"action": np.asarray(index.labels, dtype=np.int64)}
    for c in columns:
        values = [table.get(e.rel, {}).get(c, "") for e in index.entries]
        names = sorted({v for v in values if v})
        ids = {v: i for i, v in enumerate(names)}
        out[c] = np.array([ids.get(v, -1) for v in values], dtype=np.int64)
    return out


def _pick(index: VideoIndex, n: int, seed: int) -> VideoIndex:
    if len(index) <= n:
        return index
    rng = np.random.default_rng([seed, 7_919])
    return index.subset(np.sort(rng.choice(len(index), n, replace=False)))


class KnnMonitor:
    """``measure(backbone) -> {"knn/<label>": top-1}``; ``check(values, step)`` warns on a drop
    below the step-0 values (``self.step0``)."""

    def __init__(
        self, data_root: str | Path, cfg, device: torch.device, dtype: torch.dtype | None, channels_last: bool = False
    ):
        d, t = cfg.data, cfg.train
        self.device, self.dtype, self.channels_last = device, dtype, channels_last
        self.k, self.tolerance = t.monitor_k, t.monitor_tolerance
        train = open_index(data_root, format=d.format, split=d.split, subset="train")
        try:
            test = open_index(data_root, format=d.format, split=d.split, subset="test")
        except DataError:
            test = None
        if test is None or len(test) == 0:  # no test split: hold out half of the training videos
            half = _pick(train, 2 * t.monitor_videos, t.seed)
            order = np.random.default_rng([t.seed, 104_729]).permutation(len(half))
            bank, queries = half.subset(order[: len(half) // 2]), half.subset(order[len(half) // 2 :])
        else:
            bank, queries = _pick(train, t.monitor_videos, t.seed), _pick(test, t.monitor_videos, t.seed + 1)
        attributes = Path(data_root) / "attributes.csv"
        columns, table = read_label_table(attributes) if attributes.is_file() else ([], {})
        self.clips, self.labels = {}, {}
        for name, idx in (("bank", bank), ("queries", queries)):
            clips, keep = self._decode(idx, d.clip_len, d.stride, d.size)
            self.clips[name] = clips
            self.labels[name] = {k: torch.from_numpy(v[keep]) for k, v in label_columns(idx, table, columns).items()}
        if min(len(c) for c in self.clips.values()) == 0:
            raise DataError(f"{data_root}: the kNN monitor could not decode any video of its subsets")
        self.names = [k for k in self.labels["bank"] if (self.labels["bank"][k] >= 0).any()]
        self.step0: dict[str, float] = {}
        self.warned: set[str] = set()

    @staticmethod
    def _decode(index: VideoIndex, clip_len: int, stride: int, size: int) -> tuple[torch.Tensor, np.ndarray]:
        ds = EvalClipDataset(index, make_decoder("auto"), clip_len, stride, 1, size)
        items = [ds[i] for i in range(len(ds))]
        keep = np.array([it is not None for it in items], dtype=bool)
        clips = [it["video"][0].half() for it in items if it is not None]  # fp16 in memory: half the size
        return (torch.stack(clips) if clips else torch.empty(0)), keep

    @torch.no_grad()
    def _features(self, backbone: nn.Module, clips: torch.Tensor, batch: int = 32) -> torch.Tensor:
        out = []
        for lo in range(0, clips.shape[0], batch):
            x = clips[lo : lo + batch].to(self.device, non_blocking=True).float()
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last_3d)
            with autocast(self.device, self.dtype):
                out.append(backbone(x)[-1].float().mean((2, 3, 4)))
        return torch.cat(out)

    def measure(self, backbone: nn.Module) -> dict[str, float]:
        """kNN top-1 of every label from the current backbone (left in the mode it was in)."""
        was_training = backbone.training
        backbone.eval()
        try:
            bank, queries = (self._features(backbone, self.clips[n]) for n in ("bank", "queries"))
        finally:
            backbone.train(was_training)
        out = {}
        for name in self.names:
            bl, ql = self.labels["bank"][name], self.labels["queries"][name]
            b, q = bl >= 0, ql >= 0
            if b.any() and q.any():
                out[f"knn/{name}"] = knn_top1(
                    bank[b.to(bank.device)], bl[b], queries[q.to(queries.device)], ql[q], self.k
                )
        return out

    def check(self, values: dict[str, float], step: int) -> list[str]:
        """Warn (once per label) where a value fell below its step-0 value by more than the
        tolerance; returns the labels that did, this time."""
        fell = [k for k, v in values.items() if k in self.step0 and v < self.step0[k] - self.tolerance]
        for k in fell:
            if k not in self.warned:
                self.warned.add(k)
                log.warning(
                    "shortcut warning: %s kNN top-1 %.3f at step %d is below its step-0 value %.3f: "
                    "pretraining is learning something that tells videos apart instead of this label "
                    "(background, colour, camera motion?); try a stronger augmentation (data.preset=strong)",
                    k.split("/", 1)[1],
                    values[k],
                    step,
                    self.step0[k],
                )
        return fell

    def row(self, knn: dict[str, float]) -> dict[str, float]:
        """The numbers beside their step-0 values (``knn0/<label>``), for metrics.jsonl."""
        return {**knn, **{k.replace("knn/", "knn0/"): v for k, v in self.step0.items()}}

    def text(self, knn: dict[str, float]) -> str:
        """``action 0.42 (0.31)``: the first label's kNN top-1 and its step-0 value (the progress bar)."""
        key = "knn/action" if "knn/action" in knn else next(iter(knn), None)
        if key is None:
            return "-"
        return f"{key[4:]} {knn[key]:.2f} ({self.step0.get(key, float('nan')):.2f})"
