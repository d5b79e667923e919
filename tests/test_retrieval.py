"""Top-k retrieval recall against a brute-force reference written with explicit loops."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hdc_video.eval.retrieval import nearest, topk_recall


def brute_force(query, qlab, gallery, glab, ks, centre):
    """The definition, loop by loop: (centre by the gallery mean,) L2-normalise, cosine, rank by
    similarity desc then gallery index asc, hit at k if a same-class item is among the first min(k, G)."""
    query = [list(map(float, q)) for q in query]
    gallery = [list(map(float, g)) for g in gallery]
    dim = len(gallery[0])
    if centre:
        mean = [sum(g[c] for g in gallery) / len(gallery) for c in range(dim)]
        query = [[q[c] - mean[c] for c in range(dim)] for q in query]
        gallery = [[g[c] - mean[c] for c in range(dim)] for g in gallery]

    def unit(v):
        n = math.sqrt(sum(x * x for x in v))
        return [x / max(n, 1e-12) for x in v]

    query, gallery = [unit(q) for q in query], [unit(g) for g in gallery]
    out = {}
    for k in ks:
        hits = 0
        for q, y in zip(query, qlab):
            sims = [float(np.float32(sum(a * b for a, b in zip(q, g)))) for g in gallery]
            order = sorted(range(len(gallery)), key=lambda j: (-sims[j], j))
            if any(glab[j] == y for j in order[: min(k, len(gallery))]):
                hits += 1
        out[str(k)] = hits / len(query)
    return out


# 4-d vectors of +-1 (norm 2) or one axis: every cosine is an exact multiple of 1/4, so ties are exact.
GALLERY = np.array(
    [
        [1, 1, 1, 1],  # 0 A
        [1, 1, 1, 1],  # 1 B   identical to 0, other class: an exact tie
        [1, 1, 1, -1],  # 2 C
        [1, 1, -1, -1],  # 3 B
        [-1, -1, -1, -1],  # 4 C
        [2, 0, 0, 0],  # 5 A
    ],
    dtype=np.float32,
)
GLAB = np.array([0, 1, 2, 1, 2, 0])
QUERY = np.array(
    [
        [1, 1, 1, 1],  # B: ties 0 (A) and 1 (B) at sim 1 -> index 0 first -> miss at 1, hit at 2
        [1, 1, 1, 1],  # A: hit at 1 thanks to the tie order
        [1, -1, -1, -1],  # C: sims .5 (3 B, 4 C, 5 A), 0 (2 C), -.5 (0, 1) -> first C at rank 2
        [-1, 1, -1, 1],  # D: class absent from the gallery, never a hit
        [1, 1, -1, 1],  # C: sims .5 (0, 1, 3, 5), 0 (2 C), -.5 (4 C) -> first C at rank 5
    ],
    dtype=np.float32,
)
QLAB = np.array([1, 0, 2, 3, 2])
KS = (1, 2, 3, 5, 6, 10, 50)


def test_exact_ties_and_k_beyond_gallery_match_brute_force():
    for centre in (False, True):
        got = topk_recall(QUERY, QLAB, GALLERY, GLAB, KS, centre=centre)
        assert got == brute_force(QUERY, QLAB, GALLERY, GLAB, KS, centre)
    raw = topk_recall(QUERY, QLAB, GALLERY, GLAB, KS, centre=False)
    assert list(raw) == [str(k) for k in KS]
    # hand-checked: query 0 (B) loses the 0/1 tie (A first), query 1 (A) wins it
    assert nearest(QUERY[:2], GALLERY, k=2).tolist() == [[0, 1], [0, 1]]
    assert raw["1"] == pytest.approx(1 / 5)  # only query 1
    assert raw["2"] == pytest.approx(3 / 5)  # + query 0 (tie partner) and query 2
    assert raw["5"] == pytest.approx(4 / 5)  # + query 4
    # k >= G: every query whose class is in the gallery is a hit; the absent class never is
    assert raw["6"] == raw["10"] == raw["50"] == pytest.approx(4 / 5)


def test_tie_order_is_gallery_index_whatever_the_position():
    g = np.array([[0, 1], [1, 0], [1, 0], [1, 0]], dtype=np.float32)
    assert nearest(np.array([[1, 0]]), g, k=4).tolist() == [[1, 2, 3, 0]]
    # the same-class item is the last of three tied ones: a hit only from k = 3
    r = topk_recall(np.array([[1.0, 0.0]]), [7], g, [0, 1, 2, 7], ks=(1, 2, 3, 4))
    assert r == {"1": 0.0, "2": 0.0, "3": 1.0, "4": 1.0}
    # the same-class item is the dissimilar one: ranked last, a hit only at k = 4 = G (and beyond)
    r = topk_recall(np.array([[1.0, 0.0]]), [7], g, [7, 1, 2, 3], ks=(3, 4, 50))
    assert r == {"3": 0.0, "4": 1.0, "50": 1.0}


def test_centring_changes_the_answer():
    # a large shared offset dominates raw cosine; centring on the gallery mean removes it
    g = np.array([[10.0, 1.0], [11.0, 0.0]])
    q = np.array([[10.0, 0.2]])
    raw = topk_recall(q, [0], g, [0, 1], ks=(1, 2), centre=False)
    cen = topk_recall(q, [0], g, [0, 1], ks=(1, 2), centre=True)
    assert raw == {"1": 0.0, "2": 1.0} and cen == {"1": 1.0, "2": 1.0}
    assert raw == brute_force(q, [0], g, [0, 1], (1, 2), False)
    assert cen == brute_force(q, [0], g, [0, 1], (1, 2), True)


def test_random_sets_with_duplicates_match_brute_force():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(30, 6)) + 3.0  # offset: centring matters
    g[10:15] = g[0]  # exact duplicates across classes
    glab = rng.integers(0, 5, size=30)
    q = np.concatenate([rng.normal(size=(17, 6)) + 3.0, g[:3]])
    qlab = rng.integers(0, 6, size=20)  # class 5 absent from the gallery
    ks = (1, 5, 10, 20, 50)
    results = {}
    for centre in (False, True):
        results[centre] = topk_recall(q, qlab, g, glab, ks, centre=centre)
        assert results[centre] == brute_force(q, qlab, g, glab, ks, centre)
    assert results[False] != results[True]


def test_bad_inputs_are_errors():
    with pytest.raises(ValueError):
        topk_recall(np.zeros((2, 3)), [0, 1], np.zeros((2, 4)), [0, 1])
    with pytest.raises(ValueError):
        topk_recall(np.zeros((2, 3)), [0, 1], np.zeros((2, 3)), [0, 1], ks=(0,))
    with pytest.raises(ValueError):
        topk_recall(np.zeros((0, 3)), [], np.zeros((2, 3)), [0, 1])


@pytest.mark.slow
def test_retrieve_from_extracted_features_equals_the_network_path(tiny_bench, tmp_path):
    from hdc_video.cli import main

    common = [
        "--random-init",
        "--backbone",
        "r3d_18",
        "--width",
        "0.125",
        "--num-clips",
        "2",
        "--workers",
        "0",
        "--clip-len",
        "4",
        "--size",
        "32",
        "--no-progress",
    ]
    assert main(["retrieve", "--data", str(tiny_bench), "--out", str(tmp_path / "net"), *common]) == 0
    assert main(["extract", "--data", str(tiny_bench), "--out", str(tmp_path / "feat"), *common]) == 0
    assert main(["retrieve", "--features", str(tmp_path / "feat"), "--out", str(tmp_path / "cached")]) == 0
    a = json.loads((tmp_path / "net" / "metrics.json").read_text())
    b = json.loads((tmp_path / "cached" / "metrics.json").read_text())
    assert a["recall_raw"] == b["recall_raw"] and a["recall_centred"] == b["recall_centred"]
    assert (tmp_path / "net" / "neighbours.json").read_text() == (tmp_path / "cached" / "neighbours.json").read_text()
