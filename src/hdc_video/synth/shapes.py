"""Geometric shapes as the appearance factor (``glyphs="shapes"``): solid, distinct, learnable by
a tiny network, with per-video variation so that no two videos draw exactly the same shape.

Each shape is an antialiased alpha mask (4x supersampled point-in-shape tests) with a 1-pixel empty
border, like the digit glyphs. Per-video variation: aspect ratio, stroke or arm thickness, vertex
jitter, a random in-plane tilt for shapes whose class survives it. No shape is another one rotated
(``Swing`` rocks the glyph by up to 65 degrees), and mirrored shapes stay in their class (the
horizontal flip augmentation).
"""

from __future__ import annotations

import numpy as np

__all__ = ["SHAPES", "shape_alpha"]

# Order matters: ``generate_benchmark(digits=k, glyphs="shapes")`` uses the first k.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "ring", "star", "crescent", "tee")


def _polygon(x: np.ndarray, y: np.ndarray, vx: np.ndarray, vy: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon for every (x, y)."""
    inside = np.zeros(x.shape, dtype=bool)
    n = len(vx)
    for i in range(n):
        j = (i - 1) % n
        cond = (vy[i] > y) != (vy[j] > y)
        xcross = (vx[j] - vx[i]) * (y - vy[i]) / (vy[j] - vy[i] + 1e-12) + vx[i]
        inside ^= cond & (x < xcross)
    return inside


def _regular(k: int, r: float, rng: np.random.Generator, jitter: float, phase: float = 0.0):
    a = phase + 2 * np.pi * np.arange(k) / k
    rr = r * (1 + rng.uniform(-jitter, jitter, k))
    return rr * np.cos(a), rr * np.sin(a)


def _inside(name: str, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Membership on coordinates in [-1, 1] (the shape fills about 80-95 % of the box)."""
    aspect = rng.uniform(0.85, 1.15)
    x, y = x * aspect, y / aspect
    if name == "circle":
        return x**2 + y**2 <= 0.9**2
    if name == "square":
        s = 0.78
        return (np.abs(x) <= s) & (np.abs(y) <= s)
    if name == "triangle":
        vx, vy = _regular(3, 0.95, rng, 0.06, phase=-np.pi / 2)
        return _polygon(x, y + 0.15, vx, vy)
    if name == "cross":
        t = rng.uniform(0.22, 0.32)
        return ((np.abs(x) <= t) & (np.abs(y) <= 0.9)) | ((np.abs(y) <= t) & (np.abs(x) <= 0.9))
    if name == "ring":
        r2 = x**2 + y**2
        return (r2 <= 0.92**2) & (r2 >= rng.uniform(0.45, 0.6) ** 2)
    if name == "star":
        outer = _regular(5, 0.95, rng, 0.05, phase=-np.pi / 2)
        inner = _regular(5, rng.uniform(0.38, 0.48), rng, 0.05, phase=-np.pi / 2 + np.pi / 5)
        vx = np.stack([outer[0], inner[0]], 1).ravel()
        vy = np.stack([outer[1], inner[1]], 1).ravel()
        return _polygon(x, y, vx, vy)
    if name == "crescent":
        off = rng.uniform(0.35, 0.5)
        return (x**2 + y**2 <= 0.9**2) & ((x - off) ** 2 + y**2 >= 0.75**2)
    if name == "tee":
        t = rng.uniform(0.2, 0.3)
        return ((np.abs(y + 0.9 - t) <= t) & (np.abs(x) <= 0.9)) | ((np.abs(x) <= t) & (y >= -0.9) & (y <= 0.9))
    raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")


def shape_alpha(name: str, rng: np.random.Generator, side: int = 32, supersample: int = 4) -> np.ndarray:
    """``float [side + 2, side + 2]`` alpha mask in [0, 1] of one drawing of ``name`` (1-px border)."""
    n = side * supersample
    c = (np.arange(n) + 0.5) / n * 2 - 1
    y, x = np.meshgrid(c, c, indexing="ij")
    mask = _inside(name, x, y, rng).astype(np.float64)
    alpha = mask.reshape(side, supersample, side, supersample).mean((1, 3))
    return np.pad(alpha, 1)
