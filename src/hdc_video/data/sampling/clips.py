"""Temporal clip sampling: two crops per video for pretraining, evenly spaced clips for eval.

A clip of ``clip_len`` frames taken every ``stride`` frames covers ``span = (clip_len-1)*stride+1``
frames. ``TwoCropSampler.sample`` draws the two temporal crops ``c1``, ``c2`` of a video with
``num_frames`` frames by these rules (all returned indices lie in ``[0, num_frames)``):

* ``num_frames >= 2*span`` and ``non_overlap``: the two crops do not overlap (``|c1-c2| >= span``);
  the pair is uniform over all such placements.
* otherwise, ``num_frames > span`` (or ``non_overlap=False``): two *distinct* random starts
  (uniform over pairs of distinct valid starts); the crops may overlap.
* ``num_frames <= span`` (a video no longer than one clip): the crops start at 0 and 1
  (both at 0 for a one-frame video) and the indices wrap around (``% num_frames``), i.e. the
  video is looped.

Which crop comes first is random.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TwoCropSampler", "uniform_clips", "clip_indices"]


def clip_indices(start: int, clip_len: int, stride: int, num_frames: int) -> np.ndarray:
    """``start, start+stride, ...`` (``clip_len`` of them), wrapped into ``[0, num_frames)``."""
    return (int(start) + np.arange(clip_len, dtype=np.int64) * stride) % num_frames


class TwoCropSampler:
    """Two temporal crops per video (see the module docstring for the rules)."""

    def __init__(self, clip_len: int, stride: int = 1, non_overlap: bool = True):
        if clip_len < 1 or stride < 1:
            raise ValueError(f"clip_len and stride must be >= 1, got {clip_len}, {stride}")
        self.clip_len = int(clip_len)
        self.stride = int(stride)
        self.non_overlap = bool(non_overlap)

    @property
    def span(self) -> int:
        return (self.clip_len - 1) * self.stride + 1

    def starts(self, num_frames: int, rng: np.random.Generator) -> tuple[int, int]:
        """The two start frames ``(c1, c2)``."""
        if num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {num_frames}")
        span = self.span
        if self.non_overlap and num_frames >= 2 * span:
            # choose a < b' among num_frames-2*span+2 slots, then shift b by span-1: b - a >= span
            a, b = np.sort(rng.choice(num_frames - 2 * span + 2, size=2, replace=False))
            c = (int(a), int(b) + span - 1)
        elif num_frames > span:
            a, b = rng.choice(num_frames - span + 1, size=2, replace=False)
            c = (int(a), int(b))
        else:
            c = (0, 1) if num_frames > 1 else (0, 0)
        if rng.random() < 0.5:
            c = (c[1], c[0])
        return c

    def sample(self, num_frames: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Frame indices ``(idx1, idx2)`` of the two crops, each ``int64 [clip_len]``."""
        c1, c2 = self.starts(num_frames, rng)
        return (
            clip_indices(c1, self.clip_len, self.stride, num_frames),
            clip_indices(c2, self.clip_len, self.stride, num_frames),
        )

    def __repr__(self) -> str:
        return f"TwoCropSampler(clip_len={self.clip_len}, stride={self.stride}, non_overlap={self.non_overlap})"


def uniform_clips(num_frames: int, clip_len: int, stride: int, n: int) -> list[np.ndarray]:
    """``n`` clips with evenly spaced starts, the first at 0 and the last ending on the last
    frame (``n == 1``: the centre clip). A video shorter than one clip is looped: starts are
    spread over its frames and indices wrap (``% num_frames``)."""
    if num_frames < 1 or n < 1:
        raise ValueError(f"num_frames and n must be >= 1, got {num_frames}, {n}")
    span = (clip_len - 1) * stride + 1
    last = num_frames - span if num_frames >= span else num_frames - 1
    if n == 1:
        starts = np.array([last // 2])
    else:
        starts = np.round(np.linspace(0, last, n)).astype(np.int64)
    return [clip_indices(s, clip_len, stride, num_frames) for s in starts]
