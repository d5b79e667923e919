"""TwoCropSampler, uniform_clips (clips) and EpochSampler (videos)."""

from __future__ import annotations

import numpy as np
import pytest

from hdc_video.data.sampling.clips import TwoCropSampler, uniform_clips
from hdc_video.data.sampling.videos import EpochSampler


def _check_clip(idx, clip_len, stride, num_frames):
    assert idx.shape == (clip_len,) and idx.dtype == np.int64
    assert idx.min() >= 0 and idx.max() < num_frames
    if (clip_len - 1) * stride + 1 <= num_frames and idx[0] + (clip_len - 1) * stride < num_frames:
        assert np.all(np.diff(idx) == stride)


@pytest.mark.parametrize("clip_len,stride", [(16, 1), (8, 2), (4, 4), (1, 1)])
def test_non_overlap_for_long_videos(clip_len, stride):
    s = TwoCropSampler(clip_len, stride)
    span = s.span
    assert span == (clip_len - 1) * stride + 1
    rng = np.random.default_rng(0)
    first = []
    for num_frames in (2 * span, 2 * span + 1, 2 * span + 7, 5 * span + 3):
        if num_frames < 2:
            continue
        for _ in range(300):
            i1, i2 = s.sample(num_frames, rng)
            _check_clip(i1, clip_len, stride, num_frames)
            _check_clip(i2, clip_len, stride, num_frames)
            assert i1[0] != i2[0]
            assert abs(int(i1[0]) - int(i2[0])) >= span
            assert not set(i1.tolist()) & set(range(i2[0], i2[0] + span))
            first.append(i1[0] < i2[0])
    # the earlier crop comes first about half the time
    assert 0.35 < np.mean(first) < 0.65


def test_exactly_two_spans_covers_both_placements():
    s = TwoCropSampler(4, 2)  # span 7
    rng = np.random.default_rng(1)
    seen = {tuple(sorted((int(a[0]), int(b[0])))) for a, b in (s.sample(14, rng) for _ in range(50))}
    assert seen == {(0, 7)}
    seen = {tuple(sorted((int(a[0]), int(b[0])))) for a, b in (s.sample(16, rng) for _ in range(400))}
    assert seen == {(0, 7), (0, 8), (0, 9), (1, 8), (1, 9), (2, 9)}


def test_overlap_allowed_between_one_and_two_spans():
    s = TwoCropSampler(8, 2)  # span 15
    rng = np.random.default_rng(2)
    for num_frames in (16, 20, 29):
        starts = set()
        for _ in range(300):
            i1, i2 = s.sample(num_frames, rng)
            _check_clip(i1, 8, 2, num_frames)
            _check_clip(i2, 8, 2, num_frames)
            assert i1[0] != i2[0]
            assert i1.max() < num_frames and i2.max() < num_frames
            starts |= {int(i1[0]), int(i2[0])}
        assert starts == set(range(num_frames - 15 + 1))


def test_non_overlap_false_gives_distinct_starts():
    s = TwoCropSampler(4, 1, non_overlap=False)
    rng = np.random.default_rng(3)
    gaps = []
    for _ in range(300):
        i1, i2 = s.sample(100, rng)
        assert i1[0] != i2[0]
        gaps.append(abs(int(i1[0]) - int(i2[0])))
    assert min(gaps) < 4  # overlapping pairs happen


@pytest.mark.parametrize("num_frames", [1, 2, 5, 14, 15])
def test_short_videos_loop(num_frames):
    s = TwoCropSampler(8, 2)  # span 15
    rng = np.random.default_rng(4)
    for _ in range(20):
        i1, i2 = s.sample(num_frames, rng)
        for idx in (i1, i2):
            assert idx.shape == (8,)
            assert idx.min() >= 0 and idx.max() < num_frames
        assert sorted((int(i1[0]), int(i2[0]))) == ([0, 1] if num_frames > 1 else [0, 0])
    if num_frames == 5:
        assert sorted([i1.tolist(), i2.tolist()]) == [[0, 2, 4, 1, 3, 0, 2, 4], [1, 3, 0, 2, 4, 1, 3, 0]]


def test_slightly_longer_than_span():
    s = TwoCropSampler(8, 2)
    rng = np.random.default_rng(5)
    for _ in range(50):
        i1, i2 = s.sample(16, rng)
        assert {int(i1[0]), int(i2[0])} == {0, 1}
        assert i1.max() <= 15 and i2.max() <= 15


def test_same_rng_state_same_sample():
    s = TwoCropSampler(16, 2)
    a = s.sample(300, np.random.default_rng(7))
    b = s.sample(300, np.random.default_rng(7))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_uniform_clips_evenly_spaced():
    clips = uniform_clips(100, 8, 2, 5)  # span 15, last start 85
    starts = [int(c[0]) for c in clips]
    assert starts[0] == 0 and starts[-1] == 85
    d = np.diff(starts)
    assert d.max() - d.min() <= 1
    for c in clips:
        assert np.all(np.diff(c) == 2) and c.max() < 100
    (centre,) = uniform_clips(100, 8, 2, 1)
    assert centre[0] == 42


def test_uniform_clips_short_video_loops():
    clips = uniform_clips(6, 8, 2, 3)
    assert len(clips) == 3
    for c in clips:
        assert c.shape == (8,) and c.min() >= 0 and c.max() < 6
    assert [int(c[0]) for c in clips] == [0, 2, 5] or [int(c[0]) for c in clips] == [0, 3, 5]
    assert all(c.max() < 1 for c in uniform_clips(1, 4, 1, 2))


def test_epoch_sampler():
    s = EpochSampler(10, 3, seed=4)
    assert s.batches_per_epoch == 3 and len(s) == 9
    e0 = list(s)
    assert len(e0) == 9 and len({i for i, _ in e0}) == 9
    assert all(0 <= seed < 2**63 for _, seed in e0)
    assert list(s) == e0  # same epoch, same stream
    s.set_epoch(1)
    e1 = list(s)
    assert e1 != e0 and len(e1) == 9
    s.set_start(2)
    assert len(s) == 3 and list(s) == e1[6:]
    s.set_epoch(2)  # a new epoch starts from batch 0 again
    assert len(s) == 9
    assert list(EpochSampler(10, 3, seed=4)) == e0
    assert [i for i, _ in EpochSampler(10, 3, shuffle=False)] == list(range(9))
