"""The method's switches (docs/METHOD.md): SC skip, other_view, tc_overlap, whole_views=4, the
invariance measures, and replacements that never duplicate a batch member."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hdc_video.config import build_config
from hdc_video.data.decoders import make_decoder
from hdc_video.data.indexes import VideoEntry, VideoIndex, open_index
from hdc_video.data.loading.pretrain import PretrainDataset
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.sampling.videos import EpochSampler
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.losses import cosine_margin, hard_negatives, infonce_bound, retrieval_accuracy, sc_masks, tc_masks
from hdc_video.models.hdc import HDC, level_time_steps
from hdc_video.models.registry import build_backbone
from hdc_video.train.pretrain import build_model


def _ids(videos=2, crops=(0, 0, 1, 1), steps=2):
    """Rows in the model's order: video-major, then view, then time step."""
    v = torch.arange(videos).repeat_interleave(len(crops) * steps)
    c = torch.tensor(crops).repeat_interleave(steps).repeat(videos)
    view = torch.arange(len(crops)).repeat_interleave(steps).repeat(videos)
    t = torch.arange(steps).repeat(videos * len(crops))
    return v, c, t, view


def _by_hand(n, rule):
    return torch.tensor([[bool(rule(i, j)) for j in range(n)] for i in range(n)])


# --------------------------------------------------------------------------------- SC skip


def test_sc_is_skipped_where_a_level_has_too_few_time_steps(caplog):
    backbone = build_backbone("r3d_18", width=0.125)
    assert level_time_steps(backbone, 8) == [8, 4, 2, 1]
    cfg = build_config(overrides=["method.head_hidden=16", "method.head_dim=8"]).method
    with caplog.at_level(logging.INFO, logger="hdc_video"):
        model = HDC(backbone, cfg, clip_len=8)
    assert model.levels == [1, 2, 3] and model.sc_active == [True, True, False]
    assert "SC skipped at level L3: its feature map has 1 time step(s) for 8-frame clips" in caplog.text
    assert isinstance(model.sc_heads[2], torch.nn.Identity)  # no parameters that never train
    torch.manual_seed(0)
    loss, logs = model(torch.randn(4, 4, 3, 8, 32, 32))
    assert "L3/sc_loss" not in logs and "L2/sc_loss" in logs and "L3/tc_loss" in logs
    assert float(logs["L2/alpha"]) == 1.0 and torch.isfinite(loss)
    assert model.weighting.weights()["sc"].tolist()[2] == 0.0
    assert [t.name for t in model.subtasks] == ["sc", "tc"] and model.subtasks[1].active == [True] * 3
    # 16-frame clips give the deepest level 2 time steps: SC runs everywhere
    assert HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=16).sc_active == [True, True, True]
    with pytest.raises(ValueError, match="SC runs at no level"):
        HDC(build_backbone("r3d_18", width=0.125), build_config(overrides=["method.levels=[-1]"]).method, clip_len=8)


def test_sc_other_view_masks_by_hand():
    v, c, t, view = _ids()
    n = len(v)
    pos, valid = sc_masks(v, c, t, "mask", "other_view", view)
    same_inst = lambda i, j: v[i] == v[j] and c[i] == c[j]  # noqa: E731
    assert torch.equal(pos, _by_hand(n, lambda i, j: same_inst(i, j) and view[i] != view[j]))
    # the anchor's own view (other time steps) is neither positive nor negative; other crop masked
    want_valid = _by_hand(
        n, lambda i, j: i != j and not (same_inst(i, j) and view[i] == view[j]) and not (v[i] == v[j] and c[i] != c[j])
    )
    assert torch.equal(valid, want_valid)
    with pytest.raises(ValueError, match="needs the view ids"):
        sc_masks(v, c, t, "mask", "other_view")


def test_tc_overlap_masks_the_other_crop_only_for_overlapping_videos():
    v, c, _, _ = _ids(videos=3, steps=1)
    near = torch.tensor([False, True, False]).repeat_interleave(4)
    pos, valid = tc_masks(v, c, "same_crop", near)
    pos0, valid0 = tc_masks(v, c, "same_crop")
    assert torch.equal(pos, pos0)  # positives unchanged
    dropped = valid0 & ~valid
    assert torch.equal(dropped, _by_hand(12, lambda i, j: v[i] == 1 and v[j] == 1 and c[i] != c[j]))


def test_whole_four_views_masks_by_hand():
    v, c, _, _ = _ids(videos=2, steps=1)
    pos, valid = tc_masks(v, c, "any_view")
    assert torch.equal(pos, _by_hand(8, lambda i, j: i != j and v[i] == v[j]))
    assert torch.equal(valid, ~torch.eye(8, dtype=torch.bool))
    cfg = build_config(overrides=["method.name=whole", "method.whole_views=4"]).method
    model = HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=4)
    (tc,) = model.subtasks  # whole: TC alone, at the last level
    assert model.views == [0, 1, 2, 3] and tc.positive == "any_view" and model.levels == [3]
    two = HDC(build_backbone("r3d_18", width=0.125), build_config(overrides=["method.name=whole"]).method)
    assert two.views == [0, 2] and two.subtasks[0].positive == "other_crop"


def test_overlap_flag_reaches_the_loss():
    """Two videos whose crops overlap: with tc_overlap=0.5 their other crop is no TC negative, so
    the TC loss changes; with overlap 0 it does not."""
    torch.manual_seed(0)
    cfg = build_config(overrides=["method.name=tc_only", "method.head_hidden=16", "method.head_dim=8"]).method
    model = HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=4).eval()
    x = torch.randn(3, 4, 3, 4, 32, 32)
    with torch.no_grad():
        base, _ = model(x)
        same, _ = model(x, torch.zeros(3))
        moved, _ = model(x, torch.tensor([0.0, 0.75, 0.0]))
    assert float(same) == pytest.approx(float(base), rel=1e-6)
    assert abs(float(moved) - float(base)) > 1e-4


# ------------------------------------------------------------------------ invariance measures


def test_measures_rank_a_level_that_solves_its_task_above_one_that_does_not():
    torch.manual_seed(0)
    v, c, _, _ = _ids(videos=6, steps=1)
    pos, valid = tc_masks(v, c)
    base = F.normalize(torch.randn(6, 2, 32), dim=2)  # one vector per (video, crop)
    good = base[v, c] + 0.05 * torch.randn(24, 32)  # views of a crop agree, crops differ
    shared = F.normalize(torch.randn(6, 32), dim=1)[v] + 0.05 * torch.randn(24, 32)  # crops look alike
    neg = hard_negatives(pos, valid, v)
    assert torch.equal(neg, (v[:, None] == v[None, :]) & (c[:, None] != c[None, :]))  # TC: the other crop
    assert float(cosine_margin(good, pos, neg)) > 0.5 > abs(float(cosine_margin(shared, pos, neg)))
    zg, zs = F.normalize(good, dim=1), F.normalize(shared, dim=1)
    assert float(retrieval_accuracy(zg, pos, valid)) == pytest.approx(1.0)
    assert float(retrieval_accuracy(zs, pos, valid)) < 0.6
    # the InfoNCE bound: log(candidates) - loss
    assert float(infonce_bound(torch.tensor(1.0), pos, valid)) == pytest.approx(np.log(23) - 1.0, rel=1e-6)


def test_margin_does_not_rank_the_deepest_level_least_invariant_at_random_init(tiny_bench):
    """On real clips through the demo backbone at random init, the old pos_cosine measure ranks the
    shallow levels as the most invariant (every weight pinned to 1); margin does not rank the
    deepest level last for TC."""
    cfg = build_config(
        overrides=[
            "model.width=0.25",
            "data.clip_len=8",
            "data.size=64",
            "method.head_hidden=32",
            "method.head_dim=16",
            "method.levels=[0,1,2,3]",
        ]
    )
    torch.manual_seed(0)
    model = build_model(cfg)
    from hdc_video.train.pretrain import build_pretrain_data

    data = build_pretrain_data(cfg, tiny_bench)
    video = torch.stack([data[(i, 100 + i)]["video"] for i in range(12)])
    with torch.no_grad():
        model(video)
    inv = model.weighting.inv_tc
    margin, pos_cos = inv[0].tolist(), inv[3].tolist()
    assert pos_cos[0] > pos_cos[-1]  # the old measure: shallow looks most invariant
    assert margin[-1] > min(margin[:-1])  # margin: the deepest level is not the least


# ------------------------------------------------------------------------------ replacements


@pytest.mark.slow
def test_replacements_never_duplicate_a_batch_member(tiny_bench, tmp_path):
    """A quarter of the videos are missing: every failed sample of a batch is replaced by a video
    that is not in the global batch, and no two replacements coincide."""
    index = open_index(tiny_bench, subset="train")
    entries = []
    for i, e in enumerate(index.entries):
        entries.append(e)
        if i % 3 == 2:
            entries.append(VideoEntry(path=tmp_path / f"missing{i}.avi", label=0, rel=f"missing{i}.avi"))
    mixed = VideoIndex(entries=entries, classes=index.classes, root=index.root)
    ds = PretrainDataset(mixed, make_decoder("pyav"), TwoCropSampler(4, 2), ClipAugment(16), known_bad=None)
    sampler = EpochSampler(len(mixed), 12, seed=3, with_batch=True)
    keys = list(sampler)[:12]
    members = set(keys[0][2])
    assert {k[0] for k in keys} == members and len(members) == 12
    got = [ds[k]["index"] for k in keys]
    assert len(set(got)) == 12  # no duplicates in the batch
    replaced = [g for g, k in zip(got, keys) if g != k[0]]
    assert replaced and not members & set(replaced)
    assert all(mixed[g].path.exists() for g in got)
    assert [ds[k]["index"] for k in keys] == got  # a pure function of the key


def test_off_log_steps_only_the_measure_the_weights_follow_is_computed():
    """model.measure_all=False (the trainer's setting between log steps): the loss and the weights'
    own measure are the same as with every measure, the other measures are not computed (NaN)."""
    cfg = build_config(overrides=["method.head_hidden=16", "method.head_dim=8"]).method
    video = torch.randn(4, 4, 3, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    out = {}
    for every in (True, False):
        torch.manual_seed(0)
        model = HDC(build_backbone("r3d_18", width=0.125), cfg, clip_len=8)
        model.measure_all = every
        loss, _ = model(video)
        out[every] = (loss, model.weighting.inv_tc.clone())
    assert torch.equal(out[True][0], out[False][0])
    assert torch.equal(out[True][1][0], out[False][1][0])  # margin: the weights' measure
    assert out[False][1][1:].isnan().all() and not out[True][1][1:].isnan().any()
