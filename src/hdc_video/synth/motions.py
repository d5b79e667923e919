"""The temporal factor of the built-in benchmark: ten motion patterns of a glyph.

The motions are chosen to survive the pretraining augmentations (random resized crop, horizontal
flip, colour jitter, grayscale):

* no left/right pair: every pattern's distribution is mirror-symmetric (``Shuttle`` is symmetric
  under ``x -> -x`` up to a phase shift; ``Orbit`` and ``Fall``'s sideways drift draw their
  direction at random);
* arrow-of-time pairs: ``Rise`` is exactly ``Fall`` played backwards, ``Shrink`` exactly ``Grow``
  (same parameter draws, reversed in time), so the two of a pair differ only in the direction of
  time and have identical position and size distributions; ``Still`` is the static class.

Motion amplitudes are defined over the whole video (``frames``), so an 8-frame clip with stride 2
out of 32 frames covers half of each trajectory.
"""

from __future__ import annotations

import numpy as np

from hdc_video.data.errors import DataError

__all__ = ["MOTIONS", "MOTION_HELP", "REVERSED", "motion_track"]

# Order matters: ``generate_benchmark(motions=k)`` uses the first k.
MOTIONS: tuple[str, ...] = ("Fall", "Rise", "Shuttle", "Orbit", "Pulse", "Swing", "Still", "Bounce", "Grow", "Shrink")
#: the motions played backwards in time (an arrow-of-time pair: the two differ only in direction)
REVERSED = {"Rise": "Fall", "Shrink": "Grow"}
MOTION_HELP = {
    "Fall": "moves down (slightly accelerating), small random sideways drift",
    "Rise": "Fall played backwards in time (moves up, decelerating)",
    "Shuttle": "horizontal back-and-forth (sine, random phase: mirror-symmetric as a class)",
    "Orbit": "circles a centre point, random direction (clockwise and anticlockwise both occur)",
    "Pulse": "zooms in and out about a fixed position",
    "Swing": "rocks about its centre by +-40-65 degrees (stays upright, so 6 and 9 stay distinct)",
    "Still": "stays put, only a ~1 px jitter",
    "Bounce": "fast vertical bouncing (|sine|, 2.5-3.5 bounces per video)",
    "Grow": "swells steadily about a fixed position (x0.55-0.65 to x1.6-1.8 over the video)",
    "Shrink": "Grow played backwards in time (shrinks steadily)",
}


def _cycles(rng, lo=1.25, hi=2.0):
    return rng.uniform(lo, hi), rng.uniform(0, 2 * np.pi)


def motion_track(motion: str, rng: np.random.Generator, frames: int, size: int) -> dict[str, np.ndarray]:
    """Per-frame glyph pose: centre ``cx, cy`` (pixels), ``scale`` (x base size), ``angle`` (rad)."""
    if motion not in MOTIONS:
        raise DataError(f"unknown motion {motion!r}; known: {', '.join(MOTIONS)}")
    S, T = float(size), frames
    tau = np.linspace(0.0, 1.0, T)
    cx = np.full(T, rng.uniform(0.3, 0.7) * S)
    cy = np.full(T, rng.uniform(0.3, 0.7) * S)
    scale = np.ones(T)
    angle = np.full(T, rng.uniform(-0.15, 0.15))  # a small constant tilt, for variety
    if motion in ("Fall", "Rise"):
        d = rng.uniform(0.35, 0.5) * S
        accel = rng.uniform(0.0, 0.4)
        y0 = rng.uniform(0.22 * S, 0.78 * S - d)
        cy = y0 + d * (accel * tau**2 + (1 - accel) * tau)
        cx = cx + rng.uniform(-0.08, 0.08) * S * tau
    elif motion == "Shuttle":
        f, ph = _cycles(rng)
        amp = rng.uniform(0.15, 0.22) * S
        cx = 0.5 * S + rng.uniform(-0.05, 0.05) * S + amp * np.sin(2 * np.pi * f * tau + ph)
    elif motion == "Orbit":
        f, ph = _cycles(rng, 1.0, 1.5)
        direction = rng.choice([-1.0, 1.0])
        r = rng.uniform(0.14, 0.2) * S
        a = direction * 2 * np.pi * f * tau + ph
        cx = 0.5 * S + rng.uniform(-0.05, 0.05) * S + r * np.cos(a)
        cy = 0.5 * S + rng.uniform(-0.05, 0.05) * S + r * np.sin(a)
    elif motion == "Pulse":
        f, ph = _cycles(rng)
        scale = np.exp(rng.uniform(0.25, 0.35) * np.sin(2 * np.pi * f * tau + ph))
        cx, cy = np.full(T, rng.uniform(0.4, 0.6) * S), np.full(T, rng.uniform(0.4, 0.6) * S)
    elif motion == "Swing":
        f, ph = _cycles(rng)
        angle = angle + np.deg2rad(rng.uniform(40, 65)) * np.sin(2 * np.pi * f * tau + ph)
    elif motion == "Still":
        walk = np.cumsum(rng.normal(0, 1, (2, T)), axis=1)
        walk -= walk.mean(axis=1, keepdims=True)
        walk *= 0.015 * S / max(np.abs(walk).max(), 1e-6)
        cx, cy = cx + walk[0], cy + walk[1]
    elif motion in ("Grow", "Shrink"):
        scale = np.exp(rng.uniform(0.45, 0.6) * (2 * tau - 1))
        cx, cy = np.full(T, rng.uniform(0.4, 0.6) * S), np.full(T, rng.uniform(0.4, 0.6) * S)
    elif motion == "Bounce":
        f, ph = _cycles(rng, 2.5, 3.5)
        floor = rng.uniform(0.6, 0.72) * S
        cy = floor - rng.uniform(0.16, 0.24) * S * np.abs(np.sin(np.pi * f * tau + ph))
    track = {"cx": cx, "cy": cy, "scale": scale, "angle": angle}
    if motion in REVERSED:
        track = {k: v[::-1].copy() for k, v in track.items()}
    return {k: np.asarray(v, dtype=np.float64) for k, v in track.items()}
