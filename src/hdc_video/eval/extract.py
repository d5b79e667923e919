"""``hdc extract``: frozen features of a split's videos to files (format: :mod:`.feature_files`).

One network pass per subset serves every requested level; videos that could not be decoded are
left out of the files and listed under ``skipped`` in metrics.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from hdc_video.dist import is_main
from hdc_video.eval.feature_files import SUBSETS, level_name, read_label_table, write_subset
from hdc_video.eval.features import Features
from hdc_video.eval.source import FeatureSource, provenance, setup_model, subset_features

__all__ = ["extract"]


def _skipped(index, feats: Features) -> list[str]:
    return [e.rel for e, k in zip(index.entries, feats.keep) if not k]


def extract(src: FeatureSource, out: Path, levels="-1", subset: str = "both", labels: Path | None = None) -> dict:
    """Write the features of ``src``'s network at ``levels`` for the ``train``, ``test`` or ``both``
    subsets into ``out``, with every column of ``labels`` (default ``DATA/attributes.csv`` when it
    exists) in the index CSVs; returns the metrics.json dict."""
    out = Path(out)
    subsets = list(SUBSETS) if subset == "both" else [subset]
    if labels is None and src.data is not None and (Path(src.data) / "attributes.csv").is_file():
        labels = Path(src.data) / "attributes.csv"
    columns, table = read_label_table(labels) if labels is not None else ([], {})
    net, cfg, levels, (clip_len, stride, size) = setup_model(src, levels)
    feats = subset_features(net, src, subsets, levels, (clip_len, stride, size))
    if not is_main():  # under torchrun every rank holds the features; rank 0 writes
        return {}
    out.mkdir(parents=True, exist_ok=True)
    counts, skips, dims, root = {}, {}, {}, None
    for s, (index, by_level) in feats.items():
        counts[s] = write_subset(out, s, index, by_level, columns, table)
        skips[s] = _skipped(index, next(iter(by_level.values())))
        dims = {level_name(lv): int(f.clips.shape[-1]) for lv, f in by_level.items()}
        root = index.root
    split = src.split or 1
    names = ", ".join(level_name(lv) for lv in levels)
    metrics = {
        "kind": "extract",
        "protocol": f"frozen features, split {split} ({' + '.join(subsets)}), {src.num_clips} clips x 1 centre crop "
        f"(uniformly spaced), {clip_len} frames stride {stride}, {size}px, level {names} of "
        f"{len(net.stage_channels)} (global average pool), no centring, no classifier",
        **provenance(src, cfg, root),
        "split": split,
        "subsets": subsets,
        "levels": levels,
        "num_stages": len(net.stage_channels),
        "num_clips": src.num_clips,
        "clip_len": clip_len,
        "stride": stride,
        "size": size,
        "dims": dims,
        "videos": counts,
        "skipped": skips,
        "labels": str(labels) if labels is not None else None,
        "label_columns": columns,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
