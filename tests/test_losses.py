"""Losses against values computed by hand on tiny tensors, and the masks that define HDC."""

import math

import pytest
import torch
import torch.nn.functional as F

from hdc_video.losses import (
    INVARIANCE_MEASURES,
    contrastive_loss,
    hd_nce,
    info_nce,
    positive_similarity,
    sc_masks,
    tc_masks,
    uncertainty_weighting,
)
from hdc_video.models.level_weights import LevelWeights


def test_info_nce_orthogonal_pairs_by_hand():
    e = torch.eye(2)
    # anchor e1: positive e1 (sim 1), candidates e2, e1, e2 (sims 0, 1, 0) -> -log(e / (e + 2))
    expected = math.log((math.e + 2) / math.e)
    assert info_nce(e, e, temperature=1.0).item() == pytest.approx(expected, rel=1e-6)
    # temperature 0.5 doubles every logit
    expected = math.log((math.exp(2) + 2) / math.exp(2))
    assert info_nce(e, e, temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_info_nce_is_symmetric():
    torch.manual_seed(0)
    a, b = F.normalize(torch.randn(5, 8), dim=1), F.normalize(torch.randn(5, 8), dim=1)
    assert info_nce(a, b, 0.1).item() == pytest.approx(info_nce(b, a, 0.1).item(), rel=1e-6)


def test_contrastive_loss_multi_positive_by_hand():
    # three unit vectors at 0°, 60°, 180°: anchor 0 has positive 1; everything else as in SupCon
    ang = torch.tensor([0.0, math.pi / 3, math.pi])
    z = torch.stack([ang.cos(), ang.sin()], 1)
    pos = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    valid = ~torch.eye(3, dtype=torch.bool)
    # anchor 0: sims to 1, 2 = 0.5, -1 ; anchor 1: sims to 0, 2 = 0.5, -0.5 ; anchor 2 has no positive
    l0 = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(-1)))
    l1 = -math.log(math.exp(0.5) / (math.exp(0.5) + math.exp(-0.5)))
    got = contrastive_loss(z, pos, valid, temperature=1.0).item()
    assert got == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # two positives for anchor 0: mean of the two log-probabilities
    pos2 = pos.clone()
    pos2[0, 2] = True
    denom = math.exp(0.5) + math.exp(-1)
    l0b = -(math.log(math.exp(0.5) / denom) + math.log(math.exp(-1) / denom)) / 2
    l2 = -math.log(math.exp(-1) / (math.exp(-1) + math.exp(-0.5)))
    pos2[2, 0] = True
    got = contrastive_loss(z, pos2, valid, temperature=1.0).item()
    assert got == pytest.approx((l0b + l1 + l2) / 3, rel=1e-6)


def _sc_ids(videos=2, crops=(0, 0, 1, 1), steps=2):
    """Rows in the model's order: video-major, then view, then time step."""
    v = torch.arange(videos).repeat_interleave(len(crops) * steps)
    c = torch.tensor(crops).repeat_interleave(steps).repeat(videos)
    t = torch.arange(steps).repeat(videos * len(crops))
    return v, c, t


def test_sc_masks_any_time():
    v, c, t = _sc_ids()
    pos, valid = sc_masks(v, c, t)
    # row 0 = video 0, view c1a, t0: positives are t1 of c1a and t0, t1 of c1b (rows 1, 2, 3)
    assert pos[0].nonzero().flatten().tolist() == [1, 2, 3]
    # the same video's other crop (rows 4..7) is masked out, video 1 (rows 8..15) are negatives
    assert valid[0].nonzero().flatten().tolist() == [1, 2, 3] + list(range(8, 16))
    assert not pos.diagonal().any() and not valid.diagonal().any()


def test_sc_masks_switches():
    v, c, t = _sc_ids()
    pos, valid = sc_masks(v, c, t, positives="same_time")
    assert pos[0].nonzero().flatten().tolist() == [2]  # c1b at t0 only
    assert valid[0].nonzero().flatten().tolist() == [2] + list(range(8, 16))
    pos, valid = sc_masks(v, c, t, other_crop="positive")
    assert pos[0].nonzero().flatten().tolist() == [1, 2, 3, 4, 5, 6, 7]
    pos, valid = sc_masks(v, c, t, other_crop="negative")
    assert pos[0].nonzero().flatten().tolist() == [1, 2, 3]
    assert valid[0].nonzero().flatten().tolist() == [i for i in range(16) if i != 0]


def test_sc_loss_ignores_masked_other_crop_and_feels_it_as_negative():
    """Fails if the other crop of the same video leaks into SC's denominator under `mask`."""
    torch.manual_seed(0)
    v, c, t = _sc_ids()
    z = F.normalize(torch.randn(16, 4), dim=1)
    z[:4] = z[0]  # crop c1 of video 0: a perfectly invariant instance
    z2 = z.clone()
    z2[4:8] = z[0]  # move video 0's other crop onto it
    anchors = torch.zeros(16, 1, dtype=torch.bool)
    anchors[:4] = True  # score only crop c1's anchors; c2's rows act as candidates
    pos, valid = sc_masks(v, c, t, other_crop="mask")
    pos = pos & anchors
    assert contrastive_loss(z, pos, valid, 0.1).item() == pytest.approx(contrastive_loss(z2, pos, valid, 0.1).item())
    pos, valid = sc_masks(v, c, t, other_crop="negative")
    pos = pos & anchors
    assert contrastive_loss(z2, pos, valid, 0.1).item() > contrastive_loss(z, pos, valid, 0.1).item() + 0.1


def test_tc_masks_same_video_other_crop_is_negative():
    v = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    c = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    pos, valid = tc_masks(v, c)
    assert pos[0].nonzero().flatten().tolist() == [1]
    assert pos[2].nonzero().flatten().tolist() == [3]
    assert valid[0].nonzero().flatten().tolist() == [1, 2, 3, 4, 5, 6, 7]
    pos, valid = tc_masks(v, c, positive="other_crop")
    assert pos[0].nonzero().flatten().tolist() == [2, 3]
    assert valid[0].nonzero().flatten().tolist() == [2, 3, 4, 5, 6, 7]


def test_tc_loss_rises_when_same_video_other_crop_moves_close():
    """Fails if TC masks (rather than contrasts) the other temporal crop of the same video."""
    torch.manual_seed(1)
    v = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    c = torch.tensor([0, 0, 1, 1, 0, 0, 1, 1])
    z = F.normalize(torch.randn(8, 4), dim=1)
    pos, valid = tc_masks(v, c)
    z2 = z.clone()
    z2[2] = z[0]
    z2[3] = z[1]
    assert contrastive_loss(z2, pos, valid, 0.1).item() > contrastive_loss(z, pos, valid, 0.1).item() + 0.1


def test_positive_similarity_and_centering():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    pos = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    assert positive_similarity(x, pos).item() == pytest.approx(1.0)
    # all-alike non-negative rows look invariant raw, not once the batch mean is removed
    y = torch.tensor([[1.0, 0.1], [1.0, 0.3], [1.0, 0.2]])
    assert positive_similarity(y, pos).item() > 0.98
    assert positive_similarity(y, pos, center=True).item() == pytest.approx(-1.0, abs=1e-5)


def test_hd_nce_by_hand():
    sc, tc = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])
    assert hd_nce(sc, tc, torch.tensor([0.5, 1.0]), torch.tensor([0.25, 1.0])).item() == pytest.approx(7.25)
    s = torch.tensor([0.0, math.log(2.0)])
    assert uncertainty_weighting(torch.tensor([2.0, 4.0]), s).item() == pytest.approx(2.0 + 2.0 + math.log(2.0))


def _measured(values, measure="margin"):
    """``[measure, level]`` with ``values`` in the row of ``measure``, the other rows arbitrary."""
    m = torch.full((len(INVARIANCE_MEASURES), len(values)), 0.123)
    m[INVARIANCE_MEASURES.index(measure)] = torch.tensor(values)
    return m


def _w(weights):
    return [weights["sc"].tolist(), weights["tc"].tolist()]


def _update(w, sc, tc):
    w.update({"sc": sc, "tc": tc})


def _combine(w, sc, tc):
    return w.combine({"sc": sc, "tc": tc})


def test_level_weights_invariance_mode_normalises_to_deepest():
    w = LevelWeights("invariance", 3, ema=0.5, min_weight=0.05, measure="margin", floor=0.05)
    assert _w(w.weights()) == [[1.0] * 3, [1.0] * 3]  # nothing measured yet
    _update(w, _measured([0.2, 0.5, 0.8]), _measured([0.01, 0.4, 0.4]))
    a, b = _w(w.weights())
    assert a == pytest.approx([0.25, 0.625, 1.0])
    assert b == pytest.approx([0.05, 1.0, 1.0])  # 0.025 floored at min_weight
    assert w.ratios("tc").tolist() == pytest.approx([0.025, 1.0, 1.0])  # logged unclipped
    w2 = LevelWeights("invariance", 2, floor=0.05)
    _update(w2, _measured([0.5, 0.5]), _measured([0.9, 0.01]))
    # a deepest level below the floor divides by the floor; never above the deepest level's weight
    assert w2.ratios("tc").tolist() == pytest.approx([18.0, 1.0])
    assert w2.weights()["tc"].tolist() == pytest.approx([1.0, 1.0])
    w3 = LevelWeights("invariance", 2)
    _update(w3, _measured([-0.3, 0.5]), _measured([0.2, 0.5]))  # a negative margin
    assert w3.weights()["sc"].tolist() == pytest.approx([0.05, 1.0])
    _update(w, _measured([0.4, 0.5, 0.8]), _measured([0.01, 0.4, 0.4]))  # EMA: 0.5*0.2+0.5*0.4
    assert w.weights()["sc"].tolist() == pytest.approx([0.375, 0.625, 1.0])
    total = _combine(w, torch.tensor([1.0, 1.0, 1.0]), torch.tensor([0.0, 0.0, 2.0]))
    assert total.item() == pytest.approx(0.375 + 0.625 + 1.0 + 2.0)
    # the measure the weights follow is a switch: the other rows are kept (and logged) but unused
    acc = LevelWeights("invariance", 2, measure="accuracy")
    _update(acc, _measured([0.3, 0.6], "accuracy"), _measured([0.6, 0.6], "accuracy"))
    assert acc.weights()["sc"].tolist() == pytest.approx([0.5, 1.0])


def test_the_prior_keeps_levels_on_until_the_measures_mean_something():
    """method.invariance_prior c: (max(m_k, 0) + c) / max(max(m_deep, 0) + c, floor). At the start of
    training every margin is ~0 or negative: without the prior a deepest level at 0.01 and a shallow
    one at -0.04 switch the shallow level off (min_weight); with it, both weigh 0.91. Once the deepest
    level separates (0.4), a shallow one at 0.05 still weighs less, as the paper says."""
    early_sc, early_tc = _measured([0.3, 0.3, 0.3]), _measured([-0.04, -0.06, 0.01])
    old, new = LevelWeights("invariance", 3, ema=0.0), LevelWeights("invariance", 3, ema=0.0, prior=0.1)
    for w in (old, new):
        _update(w, early_sc, early_tc)
    assert old.weights()["tc"].tolist() == pytest.approx([0.05, 0.05, 1.0])
    assert new.weights()["tc"].tolist() == pytest.approx([0.1 / 0.11, 0.1 / 0.11, 1.0])
    _update(new, early_sc, _measured([0.05, 0.2, 0.4]))
    assert new.weights()["tc"].tolist() == pytest.approx([0.15 / 0.5, 0.3 / 0.5, 1.0])


def test_level_weights_skip_inactive_levels_and_unmeasured_values():
    w = LevelWeights("invariance", 3, {"sc": [True, True, False]}, ema=0.5)
    sc = _measured([0.2, 0.4, float("nan")])
    _update(w, sc, _measured([0.1, 0.2, 0.4]))
    assert w.weights()["sc"].tolist() == pytest.approx([0.5, 1.0, 0.0])  # normalised to the deepest level that runs SC
    _update(w, _measured([float("nan"), 0.8, float("nan")]), _measured([0.1, 0.2, 0.4]))  # NaN keeps the EMA
    assert w.inv_sc[0].tolist()[:2] == pytest.approx([0.2, 0.6])
    assert _combine(w, torch.tensor([1.0, 1.0, 5.0]), torch.zeros(3)).item() == pytest.approx(1 / 3 + 1.0)
    u = LevelWeights("uniform", 2, {"sc": [True, False]})
    assert _combine(u, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).item() == pytest.approx(8.0)


def test_level_weights_other_modes():
    u = LevelWeights("uniform", 2)
    assert _combine(u, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).item() == pytest.approx(10.0)
    assert u.combine({"sc": torch.tensor([1.0, 2.0])}).item() == pytest.approx(3.0)  # SC only
    f = LevelWeights("fixed", 2, fixed={"sc": [0.1, 1.0], "tc": [0.0, 2.0]})
    assert _combine(f, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0])).item() == pytest.approx(10.1)
    learned = LevelWeights("learned", 2)
    loss = _combine(learned, torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
    assert loss.item() == pytest.approx(10.0)  # s = 0: weights 1, regulariser 0
    loss.backward()
    assert learned.log_var_tc.grad.tolist() == pytest.approx([-3.0 + 1.0, -4.0 + 1.0])
