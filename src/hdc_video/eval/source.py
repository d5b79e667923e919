"""Where an evaluation's frozen features come from, said once for ``hdc extract | linear | retrieve``.

A :class:`FeatureSource` is either a network -- a pretraining checkpoint (or a run folder, or an
``hdc export`` file), or a random init of its architecture or of ``backbone``/``width`` -- run over
the train and test videos of a dataset split, or the files of an ``hdc extract`` folder
(``features``), which are read instead of running a network. :func:`probe_data` turns either into
the same :class:`ProbeData`: decoded videos only, per level, with their action labels and (from an
extract folder) every label column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hdc_video.config import Config, build_config
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex, open_index
from hdc_video.eval.feature_files import INDEX_COLUMNS, load_extract_meta, load_subset
from hdc_video.eval.features import Features, extract_features
from hdc_video.eval.settings import clip_settings, parse_levels
from hdc_video.models.registry import build_backbone
from hdc_video.models.weights import backbone_from_state, read_weights

__all__ = [
    "FeatureSource",
    "ProbeData",
    "backbone_and_config",
    "probe_data",
    "provenance",
    "setup_model",
    "subset_features",
]


@dataclass
class FeatureSource:
    """The model, data and clip settings of an evaluation (the ``hdc extract | linear | retrieve``
    options). ``None`` clip settings come from the checkpoint's config; ``split`` None means 1 (or,
    with ``features``, the extract folder's)."""

    checkpoint: Path | None = None
    random_init: bool = False
    backbone: str | None = None
    width: float | None = None
    seed: int = 0
    data: Path | None = None
    split: int | None = None
    features: Path | None = None
    num_clips: int = 5
    clip_len: int | None = None
    stride: int | None = None
    size: int | None = None
    batch_size: int = 8
    workers: int = 2
    device: str = "auto"
    progress: bool = True


def backbone_and_config(
    checkpoint: str | Path | None,
    random_init: bool = False,
    backbone: str | None = None,
    width: float | None = None,
    seed: int = 0,
) -> tuple[nn.Module, Config]:
    """The backbone of ``checkpoint`` (a run, a checkpoint or an ``hdc export`` file), or
    (``random_init``) a fresh one of the same architecture -- or of ``backbone``/``width`` when
    there is no checkpoint -- and the config it was trained with."""
    if checkpoint is not None:
        name, w, sd, info = read_weights(checkpoint)
        cfg = (
            build_config(base=info["config"])
            if info.get("config")
            else build_config(overrides=[f"model.backbone={name}", f"model.width={w}"])
        )
    elif random_init and backbone:
        cfg = build_config(overrides=[f"model.backbone={backbone}", f"model.width={width or 1.0}"])
    else:
        raise ValueError("no weights to evaluate: give a checkpoint, or a random init with a backbone name")
    torch.manual_seed(seed)
    if checkpoint is not None and not random_init:
        return backbone_from_state(name, w, sd, checkpoint), cfg
    return build_backbone(cfg.model.backbone, width=cfg.model.width).eval(), cfg


def setup_model(src: FeatureSource, levels_spec) -> tuple:
    """``(net, cfg, levels, (clip_len, stride, size))``; the levels are checked against the backbone
    before any video is read."""
    if src.checkpoint is None and not src.random_init:
        raise ValueError("give --checkpoint CKPT, or --random-init with --backbone NAME")
    if src.checkpoint is None and not src.backbone:
        raise ValueError("--random-init without --checkpoint needs --backbone NAME (see `hdc backbones`)")
    net, cfg = backbone_and_config(
        src.checkpoint, random_init=src.random_init, backbone=src.backbone, width=src.width, seed=src.seed
    )
    levels = parse_levels(
        levels_spec,
        len(net.stage_channels),
        cfg.model.backbone,
        option="--level" if isinstance(levels_spec, int) else "--levels",
    )
    if src.num_clips < 1:
        raise ValueError(f"--num-clips must be >= 1, got {src.num_clips}")
    return net, cfg, levels, clip_settings(cfg, src.clip_len, src.stride, src.size)


def provenance(src: FeatureSource, cfg, data_root) -> dict:
    """The contract's common keys of every eval ``metrics.json``."""
    return {
        "checkpoint": str(src.checkpoint) if src.checkpoint else None,
        "random_init": bool(src.random_init),
        "backbone": cfg.model.backbone,
        "width": cfg.model.width,
        "data_root": str(data_root),
    }


def subset_features(
    net, src: FeatureSource, subsets, levels: list[int], clip: tuple[int, int, int], tag: str = ""
) -> dict[str, tuple[VideoIndex, dict[int, Features]]]:
    """``{subset: (index, {level: Features})}``: one pass over each subset's videos for all levels.
    The split files of every subset are read first, so a bad split fails before any decoding."""
    clip_len, stride, size = clip
    indices = {s: open_index(src.data, split=src.split or 1, subset=s) for s in subsets}
    return {
        s: (
            idx,
            extract_features(
                net,
                idx,
                clip_len,
                stride,
                size,
                num_clips=src.num_clips,
                levels=tuple(levels),
                batch_size=src.batch_size,
                workers=src.workers,
                device=src.device,
                progress=src.progress,
                desc=f"{tag}{s} features",
            ),
        )
        for s, idx in indices.items()
    }


@dataclass
class ProbeData:
    """Decoded videos only, from either source. ``columns``: extra label columns (extract folder)."""

    train_rel: list[str]
    test_rel: list[str]
    train_action: np.ndarray
    test_action: np.ndarray
    action_names: dict[int, str]
    feats: dict[int, tuple[Features, Features]]  # level -> (train, test)
    header: dict  # provenance + settings for metrics.json
    columns: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)


def _from_network(src: FeatureSource, spec) -> ProbeData:
    if src.data is None:
        raise ValueError("give --data ROOT (or --features DIR from `hdc extract`)")
    net, cfg, levels, clip = setup_model(src, spec)
    out = subset_features(net, src, ("train", "test"), levels, clip)
    (train, ftr), (test, fte) = out["train"], out["test"]
    ktr, kte = ftr[levels[0]].keep, fte[levels[0]].keep
    clip_len, stride, size = clip
    return ProbeData(
        train_rel=[e.rel for e, k in zip(train.entries, ktr) if k],
        test_rel=[e.rel for e, k in zip(test.entries, kte) if k],
        train_action=train.labels[ktr],
        test_action=test.labels[kte],
        action_names=dict(enumerate(train.classes)),
        feats={lv: (ftr[lv].decoded(), fte[lv].decoded()) for lv in levels},
        header={
            **provenance(src, cfg, train.root),
            "split": src.split or 1,
            "num_clips": src.num_clips,
            "clip_len": clip_len,
            "stride": stride,
            "size": size,
            "num_stages": len(net.stage_channels),
        },
    )


def _from_features(src: FeatureSource, spec) -> ProbeData:
    clash = [
        o
        for o, v in (
            ("--checkpoint", src.checkpoint),
            ("--random-init", src.random_init),
            ("--clip-len", src.clip_len),
            ("--stride", src.stride),
            ("--size", src.size),
            ("--backbone", src.backbone),
        )
        if v
    ]
    if clash:
        raise ValueError(f"--features reads the features of an `hdc extract` folder; {clash[0]} does not apply")
    meta = load_extract_meta(src.features)
    if src.split is not None and src.split != meta.get("split"):
        raise ValueError(f"--split {src.split}: {src.features} holds split {meta.get('split')}")
    missing = [s for s in ("train", "test") if s not in meta.get("subsets", [])]
    if missing:
        raise DataError(f"{src.features}: no {missing[0]} features (extract with --subset both)")
    n, have = int(meta["num_stages"]), list(meta["levels"])
    levels = (
        have if isinstance(spec, str) and spec.strip().lower() == "all" else parse_levels(spec, n, meta["backbone"])
    )
    absent = [lv for lv in levels if lv not in have]
    if absent:
        raise DataError(
            f"{src.features}: level L{absent[0]} was not extracted (extracted: {', '.join(f'L{lv}' for lv in have)})"
        )
    feats, rows = {}, {}
    for lv in levels:
        pair = []
        for s in ("train", "test"):
            rows[s], clips = load_subset(src.features, s, lv)
            labels = np.array([int(r["label"]) for r in rows[s]], dtype=np.int64)
            pair.append(Features(clips, labels, np.ones(len(rows[s]), dtype=bool)))
        feats[lv] = tuple(pair)
    tr, te = rows["train"], rows["test"]
    extra = [c for c in (tr or te)[0] if c not in INDEX_COLUMNS] if (tr or te) else []
    return ProbeData(
        train_rel=[r["path"] for r in tr],
        test_rel=[r["path"] for r in te],
        train_action=feats[levels[0]][0].labels,
        test_action=feats[levels[0]][1].labels,
        action_names={int(r["label"]): r["class"] for r in tr + te},
        feats=feats,
        columns={c: ([r[c] for r in tr], [r[c] for r in te]) for c in extra},
        header={
            k: meta.get(k)
            for k in (
                "checkpoint",
                "random_init",
                "backbone",
                "width",
                "data_root",
                "split",
                "num_clips",
                "clip_len",
                "stride",
                "size",
                "num_stages",
            )
        }
        | {"features": str(src.features)},
    )


def probe_data(src: FeatureSource, spec) -> ProbeData:
    """Features of the train and test videos at the levels ``spec`` (``"all"``, ``-1``, ``"-3,-2,-1"``
    ...): from ``src.features`` when given, else from the network."""
    return _from_features(src, spec) if src.features is not None else _from_network(src, spec)
