"""``hdc linear``: the linear-probe protocol from a checkpoint to ``metrics.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hdc_video.data.index import VideoIndex, read_labels_csv, read_ucf101, relabel
from hdc_video.eval.features import Features, extract_features, load_backbone
from hdc_video.eval.linear import linear_probe


def split_features(net, data: Path, split: int, clip_len: int, stride: int, size: int, num_clips: int,
                   level: int = -1, workers: int = 2, device: str = "auto", progress: bool = True,
                   tag: str = "") -> tuple[VideoIndex, Features, VideoIndex, Features]:
    """Features of the train and test videos of a split at one level."""
    train = read_ucf101(data, split=split, subset="train")
    test = read_ucf101(data, split=split, subset="test")
    kw = dict(clip_len=clip_len, stride=stride, size=size, num_clips=num_clips, levels=(level,),
              workers=workers, device=device, progress=progress)
    ftr = extract_features(net, train, desc=f"{tag}train features", **kw)[level]
    fte = extract_features(net, test, desc=f"{tag}test features", **kw)[level]
    return train, ftr, test, fte


def probe_labels(train: VideoIndex, ftr: Features, test: VideoIndex, fte: Features,
                 labels: Path | None = None, column: str | None = None, C: float = 1.0) -> dict:
    """Probe the action labels of the split, or a column of a labels CSV."""
    if labels is not None:
        if not column:
            raise ValueError("--labels needs --label-column")
        mapping = read_labels_csv(labels, column)
        train, test = relabel(train, mapping), relabel(test, mapping)
        # classes come from the training split; test labels are mapped through the same names
        names = train.classes
        test_y = [names.index(test.classes[y]) if test.classes[y] in names else -1 for y in test.labels]
        res = linear_probe(ftr, fte, train_labels=train.labels, test_labels=np.array(test_y), C=C)
    else:
        res = linear_probe(ftr, fte, C=C)
    res["label"] = column or "action"
    return res


def run_linear(a) -> dict:
    if bool(a.labels) != bool(a.label_column):
        raise ValueError("--labels and --label-column go together")
    if a.labels is not None and not a.labels.exists():
        raise FileNotFoundError(f"{a.labels}: no such labels file")
    net, cfg = load_backbone(a.checkpoint, random_init=a.random_init, backbone=a.backbone, width=a.width,
                             seed=a.seed)
    n = len(net.stage_channels)
    if not -n <= a.level < n:
        raise ValueError(f"--level {a.level}: {cfg.model.backbone} has {n} stages (0..{n - 1} or -{n}..-1)")
    d = cfg.data
    clip_len, stride, size = a.clip_len or d.clip_len, a.stride or d.stride, a.size or d.size
    train, ftr, test, fte = split_features(net, a.data, a.split, clip_len, stride, size, a.num_clips,
                                           level=a.level, workers=a.workers, device=a.device)
    metrics = probe_labels(train, ftr, test, fte, a.labels, a.label_column, C=a.C)
    metrics.update({
        "protocol": f"linear probe, split {a.split}, {a.num_clips} clips x 1 centre crop, {clip_len} frames "
                    f"stride {stride}, {size}px, level {a.level}, logistic regression C={a.C}",
        "checkpoint": str(a.checkpoint) if a.checkpoint else None, "random_init": bool(a.random_init),
        "backbone": cfg.model.backbone, "width": cfg.model.width,
    })
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
