"""Nearest-neighbour video retrieval (``hdc retrieve``): test videos query the training videos.

Protocol. Each video's feature is the global-average-pooled output of one backbone stage,
averaged over N uniformly spaced centre-cropped clips (:func:`extract_features`). Every test video
queries the training set by cosine similarity; a query is a hit at k when any of its k most similar
training videos has the query's class, and recall@k is the fraction of hits (k = 1, 5, 10, 20, 50).

Two conventions, both always reported:

* ``raw`` — cosine similarity of the pooled features as they are. This is what VCOP's
  ``retrieve_clips.py`` (Xu et al., CVPR 2019) does: clip-mean features, sklearn
  ``cosine_distances(test, train)``, ``np.argsort``, hit if the class is among the first k.
  It is the default (``recall`` in metrics.json).
* ``centred`` — subtract the *training-set* mean feature from gallery and queries, then L2-normalise
  and take dot products. CoCLR's ``eval/main_classifier.py`` (``test_retrieval``, Han et al.,
  NeurIPS 2020) also centres before normalising, but subtracts each set's *own* mean (test by the
  test mean, train by the train mean); we use the training mean for both, so a query's neighbours
  never depend on the other queries. Numbers can therefore differ slightly from CoCLR-code numbers.
  Which convention a later paper used is often unstated; compare like with like.

Ties: the ranking is a stable sort by similarity (descending), equal similarities ordered by
gallery index (ascending); VCOP's ``np.argsort`` and CoCLR's ``torch.topk`` leave ties unspecified.
Similarities are computed in float64 and compared at float32 precision, so that identical gallery
features tie exactly whatever the BLAS summation order (features are float32 to begin with).
A k larger than the gallery is capped at the gallery size (every gallery item is then retrieved).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from hdc_video.dist import is_main
from hdc_video.eval.source import FeatureSource, probe_data

KS = (1, 5, 10, 20, 50)
NEIGHBOURS = 5
_EPS = 1e-12


def _prepare(query, gallery, centre: bool) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(query, dtype=np.float64)
    g = np.asarray(gallery, dtype=np.float64)
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"retrieval needs [Q, C] queries and [G, C] gallery features, got {q.shape} and {g.shape}")
    if len(q) == 0 or len(g) == 0:
        raise ValueError(f"retrieval needs at least one query and one gallery video (got {len(q)} and {len(g)})")
    if centre:
        mu = g.mean(0, keepdims=True)
        q, g = q - mu, g - mu
    q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), _EPS)
    g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), _EPS)
    return q, g


def ranked(query, gallery, centre: bool = False, chunk: int = 256) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first query row, gallery order [q, G], similarities [q, G])`` per chunk of queries; the
    order is most similar first, ties by gallery index (a stable sort of the negated float32
    similarity)."""
    q, g = _prepare(query, gallery, centre)
    for start in range(0, len(q), chunk):
        sim = (q[start : start + chunk] @ g.T).astype(np.float32)
        yield start, np.argsort(-sim, axis=1, kind="stable"), sim


def topk_recall(
    query_feats, query_labels, gallery_feats, gallery_labels, ks: Sequence[int] = KS, centre: bool = False
) -> dict[str, float]:
    """``{str(k): recall@k}``: the fraction of queries with at least one same-class item among their
    ``min(k, G)`` nearest gallery items (cosine; ``centre`` subtracts the gallery mean first)."""
    ks = [int(k) for k in ks]
    if any(k < 1 for k in ks):
        raise ValueError(f"recall@k needs k >= 1, got {ks}")
    ql, gl = np.asarray(query_labels), np.asarray(gallery_labels)
    if len(ql) != len(query_feats) or len(gl) != len(gallery_feats):
        raise ValueError("one label per query and per gallery feature")
    none = np.iinfo(np.int64).max
    first = np.empty(len(ql), dtype=np.int64)  # rank of the first same-class gallery item
    for start, order, _ in ranked(query_feats, gallery_feats, centre):
        same = gl[order] == ql[start : start + len(order), None]
        first[start : start + len(order)] = np.where(same.any(1), same.argmax(1), none)
    return {str(k): float((first < k).mean()) for k in ks}


def nearest(query_feats, gallery_feats, k: int = NEIGHBOURS, centre: bool = False) -> np.ndarray:
    """Gallery indices of each query's ``min(k, G)`` nearest items, ``[Q, min(k, G)]``."""
    return np.concatenate([order[:, :k] for _, order, _ in ranked(query_feats, gallery_feats, centre)])


def retrieve(src: FeatureSource, out: Path, level: int = -1, centre: str = "raw") -> dict:
    """The retrieval protocol on ``src``'s features at ``level``: writes metrics.json and
    neighbours.json into ``out`` and returns the metrics. ``centre``: the convention reported as
    ``recall`` and ranked in neighbours.json, ``raw`` (cosine) or ``centred``; both are computed."""
    if centre not in ("raw", "centred"):
        raise ValueError(f"centre must be 'raw' or 'centred', got {centre!r}")
    out = Path(out)
    d = probe_data(src, level)
    (level,) = d.feats
    ftr, fte = d.feats[level]
    h = d.header
    results = {c: topk_recall(fte.videos, fte.labels, ftr.videos, ftr.labels, KS, centre=c) for c in (False, True)}
    centred = centre == "centred"
    primary = "centred" if centred else "raw"
    metrics = {
        "kind": "retrieve",
        "protocol": f"video retrieval, split {h['split']}: {len(d.test_rel)} test videos query {len(d.train_rel)} "
        f"training videos; {h['num_clips']} clips x 1 centre crop (uniformly spaced, features averaged), "
        f"{h['clip_len']} frames stride {h['stride']}, {h['size']}px, level L{level} of {h['num_stages']} "
        f"(global average pool); recall = {primary} cosine "
        + ("(training-set mean subtracted before L2 normalisation)" if centred else "(no centring)")
        + "; hit at k if any of the k nearest training videos has the query's class; no classifier",
        **{k: h[k] for k in ("checkpoint", "random_init", "backbone", "width", "data_root")},
        "recall": results[centred],
        "recall_raw": results[False],
        "recall_centred": results[True],
        "centring": primary,
        "level": level,
        **{k: h[k] for k in ("split", "num_clips", "clip_len", "stride", "size")},
        "queries": len(d.test_rel),
        "gallery": len(d.train_rel),
    }
    if "features" in h:
        metrics["features"] = h["features"]
    nn_idx = nearest(fte.videos, ftr.videos, NEIGHBOURS, centre=centred)
    queries = [
        {
            "path": rel,
            "label": d.action_names[int(y)],
            "neighbours": [d.train_rel[j] for j in row],
            "correct": [bool(ftr.labels[j] == y) for j in row],
        }
        for rel, y, row in zip(d.test_rel, fte.labels, nn_idx)
    ]
    if not is_main():  # under torchrun every rank holds the features; rank 0 writes
        return metrics
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1))
    (out / "neighbours.json").write_text(
        json.dumps({"data_root": h["data_root"], "split": h["split"], "queries": queries}, indent=1)
    )
    return metrics
