"""Rendering one benchmark video: a glyph -- a handwritten digit or a geometric shape
(:mod:`.shapes`), the appearance factor -- moving with a motion pattern (the temporal factor,
:mod:`.motions`) over a background.

``nuisance="none"``: a static background cut from scikit-learn's bundled photos (the original
benchmark; its videos are reproduced bit for bit). ``nuisance="scene"``: the nuisances of real
video (:mod:`.scene`): a per-video textured, coloured background and a panning camera.

In both, the glyph contrasts with the background in *luminance* (not only in hue), so grayscale
keeps it, and its colour, size and position do not depend on the class.
"""

from __future__ import annotations

import numpy as np

from .assets import digits, glyph_colour, photos
from .motions import motion_track
from .scene import camera_path, scene_canvas, view_through
from .shapes import SHAPES, shape_alpha

__all__ = ["GLYPHS", "NUISANCES", "GLYPH_SIZE", "render_video"]

NUISANCES = ("none", "scene")
GLYPHS = ("digits", "shapes")
GLYPH_SIZE = {"none": (0.35, 0.45), "scene": (0.3, 0.5)}  # glyph box side, fraction of the frame


def _glyph_alpha(image8: np.ndarray, up: int = 4) -> np.ndarray:
    """8x8 digit in [0,1] -> smooth (8*up)^2 alpha mask with a 1-px empty border."""
    from scipy.ndimage import zoom

    g = zoom(image8, up, order=3, mode="grid-constant", grid_mode=True)
    g = np.clip((g - 0.2) / 0.45, 0.0, 1.0)
    return np.pad(g, 1)


def _photo_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random square crop at a random scale of china.jpg / flower.jpg, resized to size^2, in [0,1]."""
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


def _contrast(rng: np.random.Generator, hue: float, sat: float, bright: bool):
    """A bright glyph (luminance 0.8-0.95) over a background of luminance [~0.04, ~0.5], or a dark one
    (0.05-0.2) over [~0.5, ~0.96]: ``(glyph colour, background lo, hi)``."""
    if bright:
        color = glyph_colour(hue, sat, rng.uniform(0.8, 0.95))
        lo, hi = rng.uniform(0.0, 0.08), rng.uniform(0.45, 0.55)
    else:
        color = glyph_colour(hue, sat, rng.uniform(0.05, 0.2))
        lo, hi = rng.uniform(0.45, 0.55), rng.uniform(0.92, 1.0)
    return color, lo, hi


def render_video(digit: int, motion: str, rng: np.random.Generator, frames: int = 32, size: int = 64,
                 sample: int | None = None, nuisance: str = "none",
                 glyphs: str = "digits") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render one video: ``uint8 [frames, size, size, 3]`` and its :func:`motion_track` (in frame
    coordinates: with ``scene`` the camera's pan is included).

    ``glyphs="digits"``: ``digit`` is the digit and ``sample`` picks its image (an index into that
    digit's ``load_digits`` samples; None draws one from ``rng``); ``glyphs="shapes"``: ``digit``
    indexes :data:`~.shapes.SHAPES` and the shape's per-video variation comes from ``rng``.
    ``nuisance``: ``none`` or ``scene`` (see the module docstring).
    """
    if nuisance not in NUISANCES:
        raise ValueError(f"nuisance must be one of {', '.join(NUISANCES)}, got {nuisance!r}")
    if glyphs not in GLYPHS:
        raise ValueError(f"glyphs must be one of {', '.join(GLYPHS)}, got {glyphs!r}")
    if glyphs == "shapes":
        alpha_src = shape_alpha(SHAPES[digit], rng)
    else:
        images, by_digit = digits()
        pool = by_digit[digit]
        k = int(rng.integers(len(pool))) if sample is None else sample % len(pool)
        alpha_src = _glyph_alpha(images[pool[k]])
    G = alpha_src.shape[0]
    if nuisance == "none":   # this draw order reproduces the original benchmark exactly
        bg = _photo_background(rng, size)
        bright = rng.random() < 0.5
        color, lo, hi = _contrast(rng, rng.random(), rng.uniform(0.3, 1.0), bright)
        bg = (lo + (hi - lo) * bg)[None]
    else:
        bright = rng.random() < 0.5
        color, lo, hi = _contrast(rng, rng.random(), rng.uniform(0.3, 1.0), bright)
        pan = camera_path(rng, frames, size)
        margin = int(np.ceil(np.abs(pan).max())) + 2
        bg = view_through(scene_canvas(rng, size + 2 * margin, size, lo, hi), pan, size)
    base = rng.uniform(*GLYPH_SIZE[nuisance]) * size * G / (G - 2)  # side of the padded glyph box, pixels
    track = motion_track(motion, rng, frames, size)
    if nuisance == "scene":  # the glyph lives in the scene: the camera's pan moves it the other way
        track = dict(track, cx=track["cx"] - pan[:, 0], cy=track["cy"] - pan[:, 1])
    # inverse-map every output pixel (centre) into glyph coordinates, all frames at once
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    dx = xs[None] - track["cx"][:, None, None]
    dy = ys[None] - track["cy"][:, None, None]
    c, s = np.cos(track["angle"])[:, None, None], np.sin(track["angle"])[:, None, None]
    side = (base * track["scale"])[:, None, None]
    u = (c * dx + s * dy) / side
    v = (-s * dx + c * dy) / side
    from scipy.ndimage import map_coordinates

    coords = np.stack([(v + 0.5) * G - 0.5, (u + 0.5) * G - 0.5]).reshape(2, -1)
    alpha = map_coordinates(alpha_src, coords, order=1, mode="constant", cval=0.0)
    alpha = alpha.reshape(frames, size, size, 1)
    video = bg * (1.0 - alpha) + color * alpha
    return np.clip(np.rint(video * 255.0), 0, 255).astype(np.uint8), track
