"""PretrainDataset / EvalClipDataset / make_pretrain_loader on real small videos."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from hdc_video.data.decoders import PyAVDecoder
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoEntry, VideoIndex
from hdc_video.data.loading.evaluation import EvalClipDataset, collate_skip_none
from hdc_video.data.loading.pretrain import PretrainDataset, make_pretrain_loader
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.data.transforms.functional import MEAN, STD
from hdc_video.data.video_io import write_video

H, W, T, STRIDE = 32, 48, 4, 2
N_VIDEOS = 6


def numbered_frames(n: int, shift: int = 0) -> np.ndarray:
    """Frame t: left half grey 16*(t//16)+8, right half grey 16*(t%16)+8 (t < 256)."""
    t = np.arange(n) + shift
    frames = np.empty((n, H, W, 3), np.uint8)
    frames[:, :, : W // 2] = (16 * (t // 16) + 8).astype(np.uint8)[:, None, None, None]
    frames[:, :, W // 2 :] = (16 * (t % 16) + 8).astype(np.uint8)[:, None, None, None]
    return frames


def frame_numbers(x01: torch.Tensor) -> list[int]:
    """Frame numbers of ``[3, T, H, W]`` clips in [0, 1] (unnormalised)."""
    f = x01.mean(dim=0) * 255  # [T, H, W]
    w = f.shape[-1]
    hi = torch.round((f[:, 4:-4, 4 : w // 2 - 4].mean(dim=(1, 2)) - 8) / 16).long()
    lo = torch.round((f[:, 4:-4, w // 2 + 4 : -4].mean(dim=(1, 2)) - 8) / 16).long()
    return (16 * hi + lo).tolist()


def unnormalize(v: torch.Tensor) -> torch.Tensor:
    return v * torch.tensor(STD).view(3, 1, 1, 1) + torch.tensor(MEAN).view(3, 1, 1, 1)


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> VideoIndex:
    d = tmp_path_factory.mktemp("ds")
    entries = []
    for k in range(N_VIDEOS):
        n = 30 + 7 * k  # 30..65 frames, different lengths
        path = write_video(d / f"c{k % 2}" / f"v{k}.avi", numbered_frames(n), fps=25, quality=2)
        entries.append(VideoEntry(path=path, label=k % 2, rel=f"c{k % 2}/v{k}.avi"))
    return VideoIndex(entries, ["c0", "c1"], d)


@pytest.fixture(scope="module")
def broken_index(index, tmp_path_factory) -> VideoIndex:
    d = tmp_path_factory.mktemp("broken")
    text = d / "text.avi"
    text.write_text("not a video\n" * 20)
    entries = [VideoEntry(d / "missing.avi", 0, "c0/missing.avi"), VideoEntry(text, 1, "c1/text.avi")]
    return VideoIndex(entries + list(index.entries), index.classes, index.root)


def _dataset(idx, size=24, views_per_crop=2, **aug):
    return PretrainDataset(
        idx, PyAVDecoder(), TwoCropSampler(T, STRIDE), ClipAugment(size, **aug), views_per_crop=views_per_crop
    )


def test_pretrain_item_shape_and_determinism(index):
    ds = _dataset(index)
    a = ds[(3, 12345)]
    assert a["video"].shape == (4, 3, T, 24, 24) and a["video"].dtype == torch.float32
    assert a["index"] == 3
    b = ds[(3, 12345)]
    assert torch.equal(a["video"], b["video"])
    c = ds[(3, 54321)]
    assert not torch.equal(a["video"], c["video"])
    assert _dataset(index, views_per_crop=1)[(0, 1)]["video"].shape == (3, 3, T, 24, 24)


def test_view_order_and_frames(index):
    # with augmentation off the views are the decoded frames: c1a == c1b, c2a == c2b
    # (scale 1, ratio 1 on a 32x48 frame = the central 32x32 square, unresized)
    ds = _dataset(index, size=H, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip=0.0, jitter=0.0, grayscale=0.0)
    calls = []
    orig = ds.decoder.decode
    ds.decoder.decode = lambda p, i: (calls.append(list(i)), orig(p, i))[1]
    for seed in range(6):
        v = ds[(5, seed)]["video"]  # video 5 has 65 frames >= 2 * span (14)
        assert torch.allclose(v[0], v[1]) and torch.allclose(v[2], v[3])
        f1, f2 = frame_numbers(unnormalize(v[0])), frame_numbers(unnormalize(v[2]))
        assert np.all(np.diff(f1) == STRIDE) and np.all(np.diff(f2) == STRIDE)
        assert abs(f1[0] - f2[0]) >= (T - 1) * STRIDE + 1
        assert max(f1 + f2) < 65
    assert len(calls) == 6  # one decode per sample serves both crops
    assert all(len(c) == 2 * T for c in calls)


def test_broken_videos_are_skipped(broken_index, caplog):
    ds = _dataset(broken_index)
    for i, name in ((0, "missing.avi"), (1, "text.avi")):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hdc_video.data"):
            out = ds[(i, 7)]
        assert out["video"].shape == (4, 3, T, 24, 24)
        assert out["index"] >= 2  # a working replacement
        msgs = [r.getMessage() for r in caplog.records if r.name == "hdc_video.data"]
        assert any(name in m and m.startswith("skipping") for m in msgs), msgs
        assert any(name in p for p in ds.skipped)
    # the replacement is deterministic
    assert torch.equal(ds[(0, 7)]["video"], ds[(0, 7)]["video"])


def test_too_many_failures_raise(broken_index):
    only_broken = VideoIndex(broken_index.entries[:2], broken_index.classes, broken_index.root)
    ds = PretrainDataset(only_broken, PyAVDecoder(), TwoCropSampler(T, STRIDE), ClipAugment(16), max_retries=3)
    with pytest.raises(DataError, match="too many videos failed"):
        ds[(0, 1)]


def _run(loader):
    return [(b["index"].tolist(), b["video"]) for b in loader]


def test_loader_workers_and_resume(index):
    ds = _dataset(index, size=16)
    ref = _run(make_pretrain_loader(ds, batch_size=2, seed=3, workers=0))
    assert len(ref) == N_VIDEOS // 2
    assert all(v.shape == (2, 4, 3, T, 16, 16) for _, v in ref)
    loader2 = make_pretrain_loader(ds, batch_size=2, seed=3, workers=2)
    assert loader2.persistent_workers
    par = _run(loader2)
    assert [i for i, _ in par] == [i for i, _ in ref]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(par, ref))
    resumed = _run(make_pretrain_loader(ds, batch_size=2, seed=3, workers=0, start_batch=1))
    assert [i for i, _ in resumed] == [i for i, _ in ref[1:]]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(resumed, ref[1:]))
    # the next epoch through the same (persistent) loader differs
    loader2.sampler.set_epoch(1)
    nxt = _run(loader2)
    assert len(nxt) == len(ref) and [i for i, _ in nxt] != [i for i, _ in ref]
    del loader2


@pytest.mark.slow
@pytest.mark.parametrize("blur", [0.0, 1.0])
def test_batches_are_written_in_place_and_equal_collated_samples(broken_index, blur):
    """__getitems__ writes each sample's views into one batch tensor (shared memory in a worker);
    the batch equals default_collate of the single samples, replacements of broken videos included."""
    from torch.utils.data import default_collate

    ds = _dataset(broken_index, size=16, blur=blur)
    keys = [(0, 7), (1, 8), (4, 9), (2, 10)]  # 0 and 1 are the missing and the text file
    want = default_collate([ds[k] for k in keys])
    got = ds.__getitems__(keys)
    assert got["video"].is_contiguous() and got["video"].shape == (4, 4, 3, T, 16, 16)
    assert torch.equal(got["video"], want["video"]) and torch.equal(got["index"], want["index"])
    assert got["skipped"] == want["skipped"] and "text.avi" in got["skipped"][1]
    loader = make_pretrain_loader(ds, batch_size=4, seed=5, workers=1, max_fail_frac=None)
    batch = next(iter(loader))
    assert batch["video"].is_shared()  # built in the worker's shared memory: no copy
    ref = default_collate([ds[k] for k in list(loader.sampler)[:4]])
    assert torch.equal(batch["video"], ref["video"])
    del loader


def test_eval_dataset(broken_index, caplog):
    ds = EvalClipDataset(broken_index, PyAVDecoder(), clip_len=T, stride=STRIDE, num_clips=3, size=16)
    item = ds[2]
    assert item["video"].shape == (3, 3, T, 16, 16) and item["label"] == broken_index[2].label
    assert item["index"] == 2
    with caplog.at_level(logging.WARNING, logger="hdc_video.data"):
        assert ds[0] is None
    assert any("missing.avi" in r.getMessage() for r in caplog.records)
    batch = collate_skip_none([ds[0], ds[2], ds[3]])
    assert batch["video"].shape == (2, 3, 3, T, 16, 16) and batch["index"].tolist() == [2, 3]
    assert collate_skip_none([None, None]) is None


def test_decoder_threads_and_auto_workers(monkeypatch):
    """data.decoder_threads reaches PyAV's codec (1 by default: one thread per loader worker), and
    data.workers=-1 takes the cores this process may use, less two, per rank, within 1..16."""
    import os

    from hdc_video.data.decoders import make_decoder
    from hdc_video.data.loading import resolve_workers

    assert make_decoder("pyav", 1).threads == 1 and make_decoder("pyav").threads == 0
    assert make_decoder("auto", 3).files.threads == 3
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)))
    assert resolve_workers(-1) == 14 and resolve_workers(-1, world_size=2) == 6 and resolve_workers(5) == 5
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert resolve_workers(-1) == 1 and resolve_workers(0) == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert resolve_workers(-1) == 16
