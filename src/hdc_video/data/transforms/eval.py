"""The evaluation views: resize the short side, then the centre square (:func:`center_clip`) or three
squares along the long side (:func:`three_crop`), normalised."""

from __future__ import annotations

import torch

from .functional import check_clips, resized_crop, to_normalized

__all__ = ["center_clip", "three_crop"]


def _square_boxes(h: int, w: int, three: bool = False) -> list[list[int]]:
    """The ``side x side`` squares (side = short side) at the centre of a frame, or (``three``) at
    the start, centre and end of its long side."""
    side, long = min(h, w), max(h, w)
    out = []
    for along in (0, (long - side) // 2, long - side) if three else ((long - side) // 2,):
        x0, y0 = (along, 0) if w >= h else (0, along)
        out.append([x0, y0, x0 + side, y0 + side])
    return out


def center_clip(clips: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the short side to ``size`` then centre-crop ``size x size`` (the central square,
    resized), normalised: ``uint8 [N, T, H, W, 3] -> float [N, 3, T, size, size]``."""
    check_clips(clips)
    box = torch.tensor(_square_boxes(clips.shape[2], clips.shape[3]), dtype=torch.float32)
    return to_normalized(resized_crop(clips, box.expand(clips.shape[0], 4), size))


def three_crop(clips: torch.Tensor, size: int) -> torch.Tensor:
    """The standard 3-crop test views: resize the short side to ``size``, then three ``size x size``
    squares along the long side -- left, centre, right (top, centre, bottom for a portrait video;
    three centre crops for a square one). ``uint8 [N, T, H, W, 3] -> float [3N, 3, T, size, size]``
    normalised, clip-major (``[c0 left, c0 centre, c0 right, c1 left, ...]``); the centre view
    equals :func:`center_clip`."""
    check_clips(clips)
    n = clips.shape[0]
    boxes = torch.tensor(_square_boxes(clips.shape[2], clips.shape[3], three=True), dtype=torch.float32)
    source = torch.arange(n).repeat_interleave(3)
    return to_normalized(resized_crop(clips, boxes.repeat(n, 1), size, source=source))
