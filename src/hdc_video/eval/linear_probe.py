"""``hdc linear``: the linear-probe protocol (docs/PROTOCOLS.md) from a feature source to
``metrics.json`` and ``predictions.csv``.

Several levels are probed from one feature pass; the top-level ``top1_*`` are those of the last
level asked for (with ``all``, the deepest), and ``per_level`` holds every level's numbers keyed
``L<level>`` (stage index normalised to non-negative, as in the ``hdc extract`` file names). The
classifier itself is :mod:`hdc_video.eval.logistic`.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import read_labels_csv
from hdc_video.dist import is_main
from hdc_video.eval.logistic import fit_probe
from hdc_video.eval.source import FeatureSource, ProbeData, probe_data

__all__ = ["linear_probe"]


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
        tr, te, classes = (
            [mapping[r] for r in d.train_rel],
            [mapping[r] for r in d.test_rel],
            sorted(set(mapping.values())),
        )
    else:
        if column not in d.columns:
            raise DataError(
                f"no label column {column!r} in the extracted index; columns: "
                f"{', '.join(d.columns) or 'none'} (or give --labels CSV)"
            )
        tr, te = d.columns[column]
        if "" in tr or "" in te:
            raise DataError(f"{tr.count('') + te.count('')} videos have an empty {column!r} in the extracted index")
        classes = sorted(set(tr) | set(te))
    to_id = {c: i for i, c in enumerate(classes)}
    seen = set(tr)
    return (
        np.array([to_id[v] for v in tr], dtype=np.int64),
        np.array([to_id[v] if v in seen else -1 for v in te], dtype=np.int64),
        dict(enumerate(classes)),
        list(te),
    )


def linear_probe(
    src: FeatureSource, out: Path, levels="-1", labels: Path | None = None, column: str | None = None, C: float = 1.0
) -> dict:
    """The linear-probe protocol on ``src``'s features at ``levels`` for the action label or the
    ``column`` of ``labels`` (default ``DATA/attributes.csv``; from an extract folder: its index
    CSVs); writes metrics.json and predictions.csv into ``out`` and returns the metrics."""
    out = Path(out)
    if labels is not None and not column:
        raise ValueError("--labels needs --label-column")
    if labels is not None and not Path(labels).exists():
        raise FileNotFoundError(f"{labels}: no such labels file")
    if src.features is None and src.data is None:
        raise ValueError("give --data ROOT (or --features DIR from `hdc extract`)")
    if src.features is None and column and labels is None:
        labels = Path(src.data) / "attributes.csv"  # the benchmark's factors, by default
        if not labels.is_file():
            raise FileNotFoundError(f"--label-column {column} needs --labels CSV (no {labels})")
    d = probe_data(src, levels)
    ytr, yte, names, test_names = _targets(d, labels, column)
    levels = list(d.feats)
    per_level, preds = {}, None
    for lv in levels:
        ftr, fte = d.feats[lv]
        res, video_pred = fit_probe(ftr, fte, train_labels=ytr, test_labels=yte, C=C)
        per_level[f"L{lv}"] = {"level": lv, **res}
        preds = video_pred  # the last level is the reported one
    primary = levels[-1]
    h = d.header
    others = [f"L{lv}" for lv in levels[:-1]]
    metrics = {
        "kind": "linear",
        "protocol": f"linear probe, split {h['split']}, {h['num_clips']} clips x 1 centre crop (uniformly spaced), "
        f"{h['clip_len']} frames stride {h['stride']}, {h['size']}px, level L{primary} of {h['num_stages']} "
        f"(global average pool"
        + (f"; also {', '.join(others)} in per_level" if others else "")
        + f"), no centring, logistic regression (L2, C={C}) on standardised "
        f"clip features of the training videos, video = mean clip probability, label {column or 'action'}",
        **{k: h[k] for k in ("checkpoint", "random_init", "backbone", "width", "data_root")},
        **{k: v for k, v in per_level[f"L{primary}"].items()},
        "label": column or "action",
        "levels": levels,
        **{k: h[k] for k in ("split", "num_clips", "clip_len", "stride", "size")},
    }
    if "features" in h:
        metrics["features"] = h["features"]
    if len(levels) > 1:
        metrics["per_level"] = per_level
    if not is_main():  # under torchrun every rank holds the features; rank 0 writes
        return metrics
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    with (out / "predictions.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "pred"])
        for rel, y, p in zip(d.test_rel, test_names, preds):
            w.writerow([rel, y, names[int(p)]])
    return metrics
