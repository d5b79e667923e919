"""``hdc linear``: the linear-probe protocol from a checkpoint (or an ``hdc extract`` folder) to
``metrics.json`` and ``predictions.csv``.

Several levels are probed from one feature pass; the top-level ``top1_*`` are those of the last
level asked for (with ``all``, the deepest), and ``per_level`` holds every level's numbers keyed
``L<level>`` (stage index normalised to non-negative, as in the ``hdc extract`` file names).
"""

from __future__ import annotations

from hdc_video.train.distributed import is_main

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex, open_index, read_labels_csv, relabel
from hdc_video.eval.features import Features, extract_features, parse_levels
from hdc_video.eval.linear import fit_probe, linear_probe


def split_features(net, data: Path, split: int, clip_len: int, stride: int, size: int, num_clips: int,
                   level: int = -1, workers: int = 2, device: str = "auto", progress: bool = True,
                   tag: str = "") -> tuple[VideoIndex, Features, VideoIndex, Features]:
    """Features of the train and test videos of a split at one level."""
    train = open_index(data, split=split, subset="train")
    test = open_index(data, split=split, subset="test")
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


# ------------------------------------------------------------------------ hdc linear (levels)

@dataclass
class ProbeData:
    """Decoded videos only, from either source. ``columns``: extra label columns (extract folder)."""
    train_rel: list[str]
    test_rel: list[str]
    train_action: np.ndarray
    test_action: np.ndarray
    action_names: dict[int, str]
    feats: dict[int, tuple[Features, Features]]          # level -> (train, test)
    header: dict                                          # provenance + settings for metrics.json
    columns: dict[str, tuple[list[str], list[str]]] = field(default_factory=dict)


def _targets(d: ProbeData, labels: Path | None, column: str | None):
    """``(train ids, test ids, id -> name, test label names)`` for the action or a factor column;
    a factor's classes are its sorted distinct values (as :func:`relabel`); a test value unseen in
    training gets id -1 (always wrong)."""
    if column is None:
        names = d.action_names
        return d.train_action, d.test_action, names, [names[int(y)] for y in d.test_action]
    if labels is not None:
        mapping = read_labels_csv(labels, column)
        absent = [r for r in d.train_rel + d.test_rel if r not in mapping]
        if absent:
            raise DataError(f"{labels}: {len(absent)} videos have no {column!r} label, e.g. {absent[0]}")
        tr, te, classes = [mapping[r] for r in d.train_rel], [mapping[r] for r in d.test_rel], sorted(set(mapping.values()))
    else:
        if column not in d.columns:
            raise DataError(f"no label column {column!r} in the extracted index; columns: "
                            f"{', '.join(d.columns) or 'none'} (or give --labels CSV)")
        tr, te = d.columns[column]
        if "" in tr or "" in te:
            raise DataError(f"{tr.count('') + te.count('')} videos have an empty {column!r} in the extracted index")
        classes = sorted(set(tr) | set(te))
    to_id = {c: i for i, c in enumerate(classes)}
    seen = set(tr)
    return (np.array([to_id[v] for v in tr], dtype=np.int64),
            np.array([to_id[v] if v in seen else -1 for v in te], dtype=np.int64), dict(enumerate(classes)), list(te))


def _from_network(a, spec) -> ProbeData:
    from hdc_video.eval.extract import provenance, setup_model, subset_features

    net, cfg, levels, (clip_len, stride, size) = setup_model(a, spec)
    split = a.split or 1
    out = subset_features(net, a.data, split, ("train", "test"), levels, clip_len, stride, size, a.num_clips,
                          workers=a.workers, device=a.device, progress=not a.no_progress, batch_size=a.batch_size)
    (train, ftr), (test, fte) = out["train"], out["test"]
    ktr, kte = ftr[levels[0]].keep, fte[levels[0]].keep
    return ProbeData(
        train_rel=[e.rel for e, k in zip(train.entries, ktr) if k], test_rel=[e.rel for e, k in zip(test.entries, kte) if k],
        train_action=train.labels[ktr], test_action=test.labels[kte], action_names=dict(enumerate(train.classes)),
        feats={lv: (ftr[lv].decoded(), fte[lv].decoded()) for lv in levels},
        header={**provenance(a, cfg, train.root), "split": split, "num_clips": a.num_clips, "clip_len": clip_len,
                "stride": stride, "size": size, "num_stages": len(net.stage_channels)})


def _from_features(a, spec) -> ProbeData:
    from hdc_video.eval.extract import load_extract_meta, load_subset

    clash = [o for o, v in (("--checkpoint", a.checkpoint), ("--random-init", a.random_init), ("--clip-len", a.clip_len),
                            ("--stride", a.stride), ("--size", a.size), ("--backbone", a.backbone)) if v]
    if clash:
        raise ValueError(f"--features reads the features of an `hdc extract` folder; {clash[0]} does not apply")
    meta = load_extract_meta(a.features)
    if a.split is not None and a.split != meta.get("split"):
        raise ValueError(f"--split {a.split}: {a.features} holds split {meta.get('split')}")
    missing = [s for s in ("train", "test") if s not in meta.get("subsets", [])]
    if missing:
        raise DataError(f"{a.features}: no {missing[0]} features (extract with --subset both)")
    n, have = int(meta["num_stages"]), list(meta["levels"])
    levels = have if isinstance(spec, str) and spec.strip().lower() == "all" else parse_levels(spec, n, meta["backbone"])
    absent = [lv for lv in levels if lv not in have]
    if absent:
        raise DataError(f"{a.features}: level L{absent[0]} was not extracted (extracted: "
                        f"{', '.join(f'L{lv}' for lv in have)})")
    feats, rows = {}, {}
    for lv in levels:
        pair = []
        for s in ("train", "test"):
            rows[s], clips = load_subset(a.features, s, lv)
            labels = np.array([int(r["label"]) for r in rows[s]], dtype=np.int64)
            pair.append(Features(clips, labels, np.ones(len(rows[s]), dtype=bool)))
        feats[lv] = tuple(pair)
    tr, te = rows["train"], rows["test"]
    extra = [c for c in (tr or te)[0] if c not in ("row", "path", "label", "class")] if (tr or te) else []
    return ProbeData(
        train_rel=[r["path"] for r in tr], test_rel=[r["path"] for r in te],
        train_action=feats[levels[0]][0].labels, test_action=feats[levels[0]][1].labels,
        action_names={int(r["label"]): r["class"] for r in tr + te}, feats=feats,
        columns={c: ([r[c] for r in tr], [r[c] for r in te]) for c in extra},
        header={k: meta.get(k) for k in ("checkpoint", "random_init", "backbone", "width", "data_root", "split",
                                           "num_clips", "clip_len", "stride", "size", "num_stages")}
        | {"features": str(a.features)})


def probe_data(a, spec) -> ProbeData:
    """Features of the train and test videos at the levels ``spec``: from ``a.features`` (an
    ``hdc extract`` folder) when given, else from the network of ``a.checkpoint`` / ``--random-init``."""
    if getattr(a, "features", None) is not None:
        return _from_features(a, spec)
    if a.data is None:
        raise ValueError("give --data ROOT (or --features DIR from `hdc extract`)")
    return _from_network(a, spec)


def run_linear(a) -> dict:
    features = getattr(a, "features", None)
    labels, column = a.labels, a.label_column
    if labels is not None and not column:
        raise ValueError("--labels needs --label-column")
    if labels is not None and not Path(labels).exists():
        raise FileNotFoundError(f"{labels}: no such labels file")
    if features is None and a.data is None:
        raise ValueError("give --data ROOT (or --features DIR from `hdc extract`)")
    if features is None and column and labels is None:
        labels = Path(a.data) / "attributes.csv"          # the benchmark's factors, by default
        if not labels.is_file():
            raise FileNotFoundError(f"--label-column {column} needs --labels CSV (no {labels})")
    spec = a.levels if getattr(a, "levels", None) is not None else a.level
    d = probe_data(a, spec)
    ytr, yte, names, test_names = _targets(d, labels, column)
    levels = list(d.feats)
    per_level, preds = {}, None
    for lv in levels:
        ftr, fte = d.feats[lv]
        res, video_pred = fit_probe(ftr, fte, train_labels=ytr, test_labels=yte, C=a.C)
        per_level[f"L{lv}"] = {"level": lv, **res}
        preds = video_pred                                 # the last level is the reported one
    primary = levels[-1]
    h = d.header
    others = [f"L{lv}" for lv in levels[:-1]]
    metrics = {
        "kind": "linear",
        "protocol": f"linear probe, split {h['split']}, {h['num_clips']} clips x 1 centre crop (uniformly spaced), "
                    f"{h['clip_len']} frames stride {h['stride']}, {h['size']}px, level L{primary} of {h['num_stages']} "
                    f"(global average pool" + (f"; also {', '.join(others)} in per_level" if others else "")
                    + f"), no centring, logistic regression (L2, C={a.C}) on standardised "
                    f"clip features of the training videos, video = mean clip probability, label {column or 'action'}",
        **{k: h[k] for k in ("checkpoint", "random_init", "backbone", "width", "data_root")},
        **{k: v for k, v in per_level[f"L{primary}"].items()},
        "label": column or "action", "levels": levels,
        **{k: h[k] for k in ("split", "num_clips", "clip_len", "stride", "size")},
    }
    if "features" in h:
        metrics["features"] = h["features"]
    if len(levels) > 1:
        metrics["per_level"] = per_level
    if not is_main():                 # under torchrun every rank holds the features; rank 0 writes
        return metrics
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    with (a.out / "predictions.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "pred"])
        for rel, y, p in zip(d.test_rel, test_names, preds):
            w.writerow([rel, y, names[int(p)]])
    return metrics
