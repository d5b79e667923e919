"""What the benchmark draws with: scikit-learn's bundled digits and photos, and colours of a given
luminance (the glyph/background contrast lives in luminance so grayscale keeps it)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = ["LUMA", "digits", "glyph_colour", "photo_crop", "photos"]

LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, what grayscale augmentations use


@lru_cache(maxsize=1)
def digits():
    """``(images [1797, 8, 8] in [0, 1], indices of each digit's images)`` from ``load_digits``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    by_digit = [np.flatnonzero(d.target == k) for k in range(10)]
    return d.images.astype(np.float64) / 16.0, by_digit


@lru_cache(maxsize=1)
def photos():
    """scikit-learn's bundled photos (china.jpg, flower.jpg) as uint8 arrays."""
    from sklearn.datasets import load_sample_images

    return tuple(np.ascontiguousarray(im) for im in load_sample_images().images)


def photo_crop(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random square crop (30-90 % of the short side, anywhere) of one of :func:`photos`, resized
    to ``size x size`` and mirrored half the time: ``float [size, size, 3]`` in [0, 1]."""
    from PIL import Image

    photo = photos()[int(rng.integers(len(photos())))]
    h, w = photo.shape[:2]
    side = rng.uniform(0.3, 0.9) * min(h, w)
    x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
    im = Image.fromarray(photo).resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    bg = np.asarray(im, dtype=np.float64) / 255.0
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    return bg


def glyph_colour(hue: float, sat: float, luma: float) -> np.ndarray:
    """An RGB colour in [0,1] of the given hue/saturation family with luminance exactly ``luma``."""
    i, f = int(hue * 6) % 6, hue * 6 - int(hue * 6)
    p, q, t = 1 - sat, 1 - f * sat, 1 - (1 - f) * sat
    c = np.array([(1, t, p), (q, 1, p), (p, 1, t), (p, q, 1), (t, p, 1), (1, p, q)][i], dtype=np.float64)
    l0 = float(c @ LUMA)
    if luma <= l0:
        return c * (luma / l0)
    return c + (1 - c) * (luma - l0) / (1 - l0)  # mix towards white
