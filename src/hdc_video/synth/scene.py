"""The nuisances of real video for the built-in benchmark (``nuisance="scene"``).

Contrastive learning takes the easiest cue that tells one video from another. Real video offers
many that say nothing about the action -- the scene, its colours, the camera's own motion -- so a
benchmark without them cannot show a recipe that learns such a shortcut instead of the action.
``scene`` gives every video:

* its **own background** -- it identifies the video, never the class -- of one of the
  :data:`BACKGROUNDS` kinds: ``textures`` (the default: a procedural texture -- noise, stripes, checks,
  blobs or a grey photo crop, at a random scale and orientation -- painted with a random two-colour
  palette), ``smooth`` (smooth, low-contrast, coloured noise: large blobs of slowly varying hue that
  blur cannot remove), ``flat`` (one colour), ``photos`` (a colour photo crop) or ``mixed`` (any of
  these, drawn per video);
* a **camera pan** (:data:`PANS`): the view drifts over a larger canvas at a random speed (``slow``:
  4-15 % of the frame over the video; ``fast``: 15-30 %; ``none``: a still camera) and direction,
  moving the background *and* the glyph (the glyph lives in the scene, so even ``Still`` moves in
  the frame);
* the glyph's colour, size and position drawn independently of the class (as in ``none``).

The glyph keeps its luminance contrast with the background (bright glyph over a darker scene or the
reverse), so the labels stay learnable under grayscale and colour jitter.
"""

from __future__ import annotations

import numpy as np

from .assets import glyph_colour, photo_crop, photos

__all__ = ["BACKGROUNDS", "PANS", "TEXTURES", "camera_path", "scene_canvas", "view_through"]

TEXTURES = ("noise", "stripes", "checks", "blobs", "photo")
BACKGROUNDS = ("textures", "smooth", "flat", "photos", "mixed")
#: camera pan speed: the range of the distance the view travels over the video, in frame sides
PANS = {"none": (0.0, 0.0), "slow": (0.04, 0.15), "fast": (0.15, 0.3)}
_MIXED = TEXTURES + ("smooth", "flat", "photos")


def _normalise(t: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(t, 1), np.percentile(t, 99)
    return np.clip((t - lo) / max(hi - lo, 1e-6), 0.0, 1.0)


def _texture(kind: str, rng: np.random.Generator, side: int, size: int) -> np.ndarray:
    """A ``side x side`` luminance pattern in [0, 1] (``size``: the frame side, the pattern's scale)."""
    from scipy.ndimage import gaussian_filter

    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64) / size
    theta = rng.uniform(0, np.pi)
    u = xs * np.cos(theta) + ys * np.sin(theta)
    v = -xs * np.sin(theta) + ys * np.cos(theta)
    if kind == "noise":
        t = gaussian_filter(rng.normal(size=(side, side)), rng.uniform(1.0, 5.0) * size / 64)
    elif kind == "stripes":
        f = rng.uniform(2.0, 7.0)
        t = np.sin(2 * np.pi * f * u + rng.uniform(0, 2 * np.pi))
        t = t + 0.4 * gaussian_filter(rng.normal(size=(side, side)), 2.0 * size / 64) / 0.1
    elif kind == "checks":
        f = rng.uniform(1.5, 5.0)
        t = np.sin(2 * np.pi * f * u + rng.uniform(0, 2 * np.pi)) * np.sin(
            2 * np.pi * f * v + rng.uniform(0, 2 * np.pi)
        )
        t = gaussian_filter(np.sign(t), 0.6 * size / 64)
    elif kind == "blobs":
        t = np.zeros((side, side))
        for _ in range(int(rng.integers(8, 20))):
            cx, cy = rng.uniform(0, side / size, 2)
            r = rng.uniform(0.05, 0.2)
            t += rng.choice([-1.0, 1.0]) * np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r))
    elif kind == "photo":
        from PIL import Image

        photo = photos()[int(rng.integers(len(photos())))]
        h, w = photo.shape[:2]
        crop = rng.uniform(0.3, 0.9) * min(h, w)
        x0, y0 = rng.uniform(0, w - crop), rng.uniform(0, h - crop)
        im = (
            Image.fromarray(photo).convert("L").resize((side, side), Image.BILINEAR, box=(x0, y0, x0 + crop, y0 + crop))
        )
        t = np.asarray(im, dtype=np.float64)
    else:
        raise ValueError(f"unknown texture {kind!r}")
    return _normalise(t)


def scene_canvas(
    rng: np.random.Generator, side: int, size: int, lo: float, hi: float, background: str = "textures"
) -> np.ndarray:
    """``float [side, side, 3]`` in [0, 1] whose luminance stays in ``[lo, hi]``: a background of kind
    ``background`` (:data:`BACKGROUNDS`; ``textures``: a random texture painted with a random
    two-colour palette whose luminances are ``lo`` and ``hi``)."""
    if background not in BACKGROUNDS:
        raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {background!r}")
    kind = _MIXED[int(rng.integers(len(_MIXED)))] if background == "mixed" else background
    if kind == "textures":
        kind = TEXTURES[int(rng.integers(len(TEXTURES)))]
    if kind in TEXTURES:
        t = _texture(kind, rng, side, size)
        dark = glyph_colour(rng.random(), rng.uniform(0.2, 1.0), lo)
        light = glyph_colour(rng.random(), rng.uniform(0.2, 1.0), hi)
        return dark * (1.0 - t[..., None]) + light * t[..., None]
    mid = rng.uniform(lo + 0.25 * (hi - lo), hi - 0.25 * (hi - lo))  # the scene's mean luminance
    base = glyph_colour(rng.random(), rng.uniform(0.2, 0.8), mid)
    if kind == "flat":
        return np.broadcast_to(base, (side, side, 3)).copy()
    if kind == "smooth":  # three independent smooth fields: patches of slowly varying hue, +-5-12 % contrast
        from scipy.ndimage import gaussian_filter

        sigma = rng.uniform(4.0, 10.0) * size / 64
        t = np.stack([_normalise(gaussian_filter(rng.normal(size=(side, side)), sigma)) for _ in range(3)], -1)
        return np.clip(base + rng.uniform(0.05, 0.12) * (2.0 * t - 1.0), lo, hi)
    return lo + (hi - lo) * photo_crop(rng, side)  # photos: a colour photo crop squeezed into [lo, hi]


def camera_path(rng: np.random.Generator, frames: int, size: int, speed=(0.04, 0.15)) -> np.ndarray:
    """``float [frames, 2]``: the view's (x, y) offset from the canvas centre, in pixels -- a straight
    pan at a random speed (fraction of the frame over the video) and direction, centred on 0."""
    tau = np.linspace(-0.5, 0.5, frames)
    angle = rng.uniform(0, 2 * np.pi)
    dist = rng.uniform(*speed) * size
    return np.stack([np.cos(angle) * dist * tau, np.sin(angle) * dist * tau], axis=1)


def view_through(canvas: np.ndarray, offsets: np.ndarray, size: int) -> np.ndarray:
    """``float [frames, size, size, 3]``: the ``size x size`` window at the canvas centre moved by each
    frame's offset (bilinear, so sub-pixel pans are smooth)."""
    from scipy.ndimage import map_coordinates

    side = canvas.shape[0]
    base = (side - size) / 2.0
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.empty((len(offsets), size, size, 3))
    for f, (ox, oy) in enumerate(offsets):
        coords = np.stack([ys + base + oy, xs + base + ox])
        for c in range(3):
            out[f, ..., c] = map_coordinates(canvas[..., c], coords, order=1, mode="nearest")
    return out
