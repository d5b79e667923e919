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

from .assets import digits, glyph_colour, photo_crop
from .motions import motion_track
from .scene import BACKGROUNDS, PANS, camera_path, scene_canvas, view_through
from .shapes import SHAPES, shape_alpha

__all__ = ["GLYPHS", "GLYPH_STYLES", "NUISANCES", "GLYPH_SIZE", "render_video"]

NUISANCES = ("none", "scene")
GLYPHS = ("digits", "shapes")
GLYPH_SIZE = {"none": (0.35, 0.45), "scene": (0.3, 0.5), "faint": (0.2, 0.35)}  # glyph box side / frame side
#: ``bold``: a glyph far from the background in luminance; ``faint``: smaller, and only 0.2-0.3 from
#: the middle of the scene's luminance band (the background's brightest or darkest parts come close)
GLYPH_STYLES = ("bold", "faint")


def _glyph_alpha(image8: np.ndarray, up: int = 4) -> np.ndarray:
    """8x8 digit in [0,1] -> smooth (8*up)^2 alpha mask with a 1-px empty border."""
    from scipy.ndimage import zoom

    g = zoom(image8, up, order=3, mode="grid-constant", grid_mode=True)
    g = np.clip((g - 0.2) / 0.45, 0.0, 1.0)
    return np.pad(g, 1)


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


def render_video(
    digit: int,
    motion: str,
    rng: np.random.Generator,
    frames: int = 32,
    size: int = 64,
    sample: int | None = None,
    nuisance: str = "none",
    glyphs: str = "digits",
    background: str = "textures",
    pan: str = "slow",
    glyph: str = "bold",
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render one video: ``uint8 [frames, size, size, 3]`` and its :func:`motion_track` (in frame
    coordinates: with ``scene`` the camera's pan is included).

    ``glyphs="digits"``: ``digit`` is the digit and ``sample`` picks its image (an index into that
    digit's ``load_digits`` samples; None draws one from ``rng``); ``glyphs="shapes"``: ``digit``
    indexes :data:`~.shapes.SHAPES` and the shape's per-video variation comes from ``rng``.
    ``nuisance``: ``none`` or ``scene`` (see the module docstring); with ``scene``, ``background``
    (:data:`~.scene.BACKGROUNDS`) and ``pan`` (:data:`~.scene.PANS`) choose the scene's kind and the
    camera's speed (the defaults are the original nuisance benchmark's), and ``glyph``
    (:data:`GLYPH_STYLES`) how much the glyph stands out.
    """
    if nuisance not in NUISANCES:
        raise ValueError(f"nuisance must be one of {', '.join(NUISANCES)}, got {nuisance!r}")
    if glyphs not in GLYPHS:
        raise ValueError(f"glyphs must be one of {', '.join(GLYPHS)}, got {glyphs!r}")
    if background not in BACKGROUNDS or pan not in PANS or glyph not in GLYPH_STYLES:
        raise ValueError(
            f"background must be one of {', '.join(BACKGROUNDS)}, pan one of {', '.join(PANS)} and "
            f"glyph one of {', '.join(GLYPH_STYLES)}, got {background!r}, {pan!r}, {glyph!r}"
        )
    if glyphs == "shapes":
        alpha_src = shape_alpha(SHAPES[digit], rng)
    else:
        images, by_digit = digits()
        pool = by_digit[digit]
        k = int(rng.integers(len(pool))) if sample is None else sample % len(pool)
        alpha_src = _glyph_alpha(images[pool[k]])
    G = alpha_src.shape[0]
    if nuisance == "none":  # this draw order reproduces the original benchmark exactly
        bg = photo_crop(rng, size)
        bright = rng.random() < 0.5
        color, lo, hi = _contrast(rng, rng.random(), rng.uniform(0.3, 1.0), bright)
        bg = (lo + (hi - lo) * bg)[None]
    else:
        bright = rng.random() < 0.5
        color, lo, hi = _contrast(rng, rng.random(), rng.uniform(0.3, 1.0), bright)
        if glyph == "faint":
            step = rng.uniform(0.2, 0.3) * (1 if bright else -1)
            color = glyph_colour(rng.random(), rng.uniform(0.3, 1.0), (lo + hi) / 2 + step)
        camera = camera_path(rng, frames, size, PANS[pan])
        margin = int(np.ceil(np.abs(camera).max())) + 2
        bg = view_through(scene_canvas(rng, size + 2 * margin, size, lo, hi, background), camera, size)
    base = rng.uniform(*GLYPH_SIZE["faint" if glyph == "faint" else nuisance]) * size * G / (G - 2)  # box side, px
    track = motion_track(motion, rng, frames, size)
    if nuisance == "scene":  # the glyph lives in the scene: the camera's pan moves it the other way
        track = dict(track, cx=track["cx"] - camera[:, 0], cy=track["cy"] - camera[:, 1])
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
