"""Augmentation on the training device: workers decode, the GPU augments.

The CPU path (:class:`~hdc_video.data.loading.pretrain.PretrainDataset`) augments in the loader workers and
ships ``float32 [V, 3, T, S, S]`` per sample. On a GPU machine that costs worker CPU time (the
augmentation) and 4x the bytes (float vs uint8) through shared memory and PCIe. The device path
splits the same work in two:

* **worker** -- :class:`~hdc_video.data.loading.pretrain.RawViewsDataset` wraps a ``PretrainDataset``
  and keeps everything it does
  (index, temporal sampling, one ``decode`` call for both crops, retries on broken videos, skip
  reporting, a sample being a pure function of ``(index, seed)``), but instead of augmenting it
  returns the two decoded temporal crops as ``uint8`` resized to one fixed ``raw_size`` (so samples
  of differently sized videos collate), plus the augmentation parameters of every view, drawn with
  the sample's own seeded CPU generator (``ClipAugment.draw``, exactly as the CPU path draws them);
* **main process** -- :func:`views_to_device` moves the batch to the device (pinned memory,
  ``non_blocking``) and runs ``ClipAugment.apply`` once over all ``B * V`` views on the device.

``ds[(i, seed)]["video"]`` of a ``RawViewsDataset`` is a dict (``default_collate`` stacks it)::

    "raw":   uint8 [2, T, h, w, 3]   temporal crops c1, c2 (views [c1a, c1b, c2a(, c2b)] share them)
    "boxes": float [V, 4], "flip": bool [V], "brightness", "contrast", "saturation", "hue": float [V],
    "grayscale": bool [V], "sigma": float [V]          (the AugParams fields, one row per view)

``views_to_device(batch["video"], augment, device) -> float32 [B, V, 3, T, S, S]`` -- the same
tensor layout the CPU path's ``batch["video"]`` has. Same draw, nearly the same result: on a GPU
the resize rounds from float (torchvision's GPU arithmetic) where the CPU uses torch's uint8
kernel, so a resized pixel may differ by one level (tested on the CPU); the colour pass and the
blur then agree to float rounding. With ``raw_size=None`` (no resize;
only for datasets whose videos all have one size) the device path reproduces the CPU path's samples
exactly; with a ``raw_size`` the random crop is taken from the resized frame (the usual
"resize to 128x171, then crop 112" recipe), so the pixels differ from the CPU path's while the
parameter draw is the same. The fixed size is 4:3 whatever the video's aspect ratio: a 16:9 video
is squeezed by 0.75 horizontally and a portrait (9:16) one stretched 2.4x before cropping, where
the CPU path crops at the native aspect ratio. Pass ``raw_size`` in the dataset's own proportions
(config ``data.raw_size=128x228`` for Kinetics' 16:9), or ``None`` (``native``) for a single-size
dataset.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from hdc_video.views import VIEW_CROP

from .augment import AugParams, ClipAugment
from .functional import resize_clips

__all__ = ["RawViews", "default_raw_size", "params_from_batch", "parse_raw_size", "views_to_device"]
_PARAM_FIELDS = tuple(f.name for f in fields(AugParams))


def default_raw_size(size: int) -> tuple[int, int]:
    """``(h, w)`` the frames are resized to for crop size ``size``: 112 -> (128, 171), the
    R3D/R(2+1)D recipe's proportions (crop = 7/8 of the short side, 4:3 frame)."""
    h = int(round(size * 8 / 7))
    return h, int(round(h * 4 / 3))


def parse_raw_size(spec: str) -> tuple[int, int] | str | None:
    """``data.raw_size`` -> ``RawViewsDataset``'s ``raw_size``: ``"auto"``, ``"native"`` (None) or ``"HxW"``."""
    if spec == "auto":
        return "auto"
    if spec == "native":
        return None
    h, w = (int(v) for v in spec.lower().split("x"))
    return h, w


class RawViews:
    """Stands in for a ``ClipAugment`` inside ``PretrainDataset.load``: called with the two temporal
    crops ``uint8 [2, T, H, W, 3]``, the sample's generator and the views' ``source`` crops, it
    returns the worker half of the device path (the dict described in the module docstring)
    instead of augmented floats."""

    def __init__(self, augment: ClipAugment, raw_size: tuple[int, int] | None):
        self.augment = augment
        self.raw_size = None if raw_size is None else (int(raw_size[0]), int(raw_size[1]))
        self.size = augment.size

    def __repr__(self) -> str:
        return f"RawViews({self.augment!r}, raw_size={self.raw_size})"

    def __call__(self, crops: torch.Tensor, generator: torch.Generator, source) -> dict[str, torch.Tensor]:
        v = len(source)
        if crops.shape[0] != 2 or tuple(source) != VIEW_CROP[:v] or v < 3:
            raise ValueError(
                f"expected crops [c1, c2] and views {VIEW_CROP} (or the first 3), "
                f"got {crops.shape[0]} crops and views {tuple(source)}"
            )
        raw = crops if self.raw_size is None else resize_clips(crops, self.raw_size)
        params = self.augment.draw(v, raw.shape[2], raw.shape[3], generator)
        return {"raw": raw, **{k: getattr(params, k) for k in _PARAM_FIELDS}}


def params_from_batch(video: dict[str, torch.Tensor]) -> AugParams:
    """The collated per-view draws ``[B, V, ...]`` as one :class:`AugParams` over ``B * V`` views."""
    return AugParams(**{k: video[k].flatten(0, 1) for k in _PARAM_FIELDS})


def views_to_device(
    video: dict[str, torch.Tensor], augment: ClipAugment, device: torch.device | str, non_blocking: bool = True
) -> torch.Tensor:
    """Collated ``RawViewsDataset`` output -> augmented ``float32 [B, V, 3, T, S, S]`` on ``device``.

    The uint8 crops travel pinned and ``non_blocking`` (already pinned by a ``pin_memory=True``
    loader; pinned here otherwise); the parameters stay on the CPU, where ``apply`` reads its branch
    decisions, so there is no device->host sync. All ``B * V`` views are augmented in one call.
    """
    device = torch.device(device)
    raw = video["raw"]
    if raw.dim() != 6 or raw.shape[1] != 2 or raw.shape[-1] != 3:
        raise ValueError(f"video['raw'] must be uint8 [B, 2, T, h, w, 3], got {tuple(raw.shape)}")
    b = raw.shape[0]
    params = params_from_batch(video)
    v = params.boxes.shape[0] // b
    if device.type == "cuda" and not raw.is_pinned():
        raw = raw.pin_memory()
    raw = raw.to(device, non_blocking=non_blocking)
    source = [i * 2 + c for i in range(b) for c in VIEW_CROP[:v]]  # view row b * V + v reads crop b * 2 + c
    out = augment.apply(raw.flatten(0, 1), params, source=source)
    return out.view(b, v, *out.shape[1:])
