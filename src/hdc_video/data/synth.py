"""Built-in benchmark: handwritten digits moving over photo backgrounds, in the UCF101 layout.

Each video shows one glyph -- a handwritten digit from ``sklearn.datasets.load_digits`` (the
*appearance* factor; every video uses a different sample image of its digit) -- moving with one
motion pattern (the *temporal* factor) over a static background cut from scikit-learn's bundled
photos. The action class is the (digit, motion) pair, e.g. ``Digit3Fall``.

The motions are chosen to survive the pretraining augmentations (random resized crop, horizontal
flip, colour jitter, grayscale):

* no left/right pair: every pattern's distribution is mirror-symmetric (``Shuttle`` is symmetric
  under ``x -> -x`` up to a phase shift; ``Orbit`` and ``Fall``'s sideways drift draw their
  direction at random);
* the glyph contrasts with the background in *luminance* (not only in hue), so grayscale keeps it;
* ``Rise`` is exactly ``Fall`` played backwards (same parameter draws, reversed in time), so the two
  differ only in the arrow of time and have identical position distributions.

Motion amplitudes are defined over the whole video (``frames``), so an 8-frame clip with stride 2
out of 32 frames covers half of each trajectory. One clip per group (``cMM`` = ``c01``); groups
``g01 .. g{test_groups}`` are the test split, the rest train (split 1 only, like UCF101's
``testlist01``). All randomness of a video comes from ``SeedSequence([seed, digit, motion id,
group])``, so the output does not depend on ``workers`` and a class's videos do not depend on how
many digits/motions were requested.
"""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import DataError

# Order matters: ``generate_benchmark(motions=k)`` uses the first k.
MOTIONS: tuple[str, ...] = ("Fall", "Rise", "Shuttle", "Orbit", "Pulse", "Swing", "Still", "Bounce")
MOTION_HELP = {
    "Fall": "moves down (slightly accelerating), small random sideways drift",
    "Rise": "Fall played backwards in time (moves up, decelerating)",
    "Shuttle": "horizontal back-and-forth (sine, random phase: mirror-symmetric as a class)",
    "Orbit": "circles a centre point, random direction (clockwise and anticlockwise both occur)",
    "Pulse": "zooms in and out about a fixed position",
    "Swing": "rocks about its centre by +-40-65 degrees (stays upright, so 6 and 9 stay distinct)",
    "Still": "stays put, only a ~1 px jitter",
    "Bounce": "fast vertical bouncing (|sine|, 2.5-3.5 bounces per video)",
}
FPS = 25
GLYPH_SIZE = (0.35, 0.45)  # glyph box side, fraction of the frame


def class_name(digit: int, motion: str) -> str:
    return f"Digit{digit}{motion}"


# ----------------------------------------------------------------------------------- motions ---
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
        cy = y0 + d * (accel * tau ** 2 + (1 - accel) * tau)
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
    elif motion == "Bounce":
        f, ph = _cycles(rng, 2.5, 3.5)
        floor = rng.uniform(0.6, 0.72) * S
        cy = floor - rng.uniform(0.16, 0.24) * S * np.abs(np.sin(np.pi * f * tau + ph))
    track = {"cx": cx, "cy": cy, "scale": scale, "angle": angle}
    if motion == "Rise":
        track = {k: v[::-1].copy() for k, v in track.items()}
    return {k: np.asarray(v, dtype=np.float64) for k, v in track.items()}


# --------------------------------------------------------------------------------- rendering ---
@lru_cache(maxsize=1)
def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    by_digit = [np.flatnonzero(d.target == k) for k in range(10)]
    return d.images.astype(np.float64) / 16.0, by_digit


@lru_cache(maxsize=1)
def _photos():
    from sklearn.datasets import load_sample_images

    return tuple(np.ascontiguousarray(im) for im in load_sample_images().images)


def _glyph_alpha(image8: np.ndarray, up: int = 4) -> np.ndarray:
    """8x8 digit in [0,1] -> smooth (8*up)^2 alpha mask with a 1-px empty border."""
    from scipy.ndimage import zoom

    g = zoom(image8, up, order=3, mode="grid-constant", grid_mode=True)
    g = np.clip((g - 0.2) / 0.45, 0.0, 1.0)
    return np.pad(g, 1)


LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, what grayscale augmentations use


def _glyph_colour(hue: float, sat: float, luma: float) -> np.ndarray:
    """An RGB colour in [0,1] of the given hue/saturation family with luminance exactly ``luma``."""
    i, f = int(hue * 6) % 6, hue * 6 - int(hue * 6)
    p, q, t = 1 - sat, 1 - f * sat, 1 - (1 - f) * sat
    c = np.array([(1, t, p), (q, 1, p), (p, 1, t), (p, q, 1), (t, p, 1), (1, p, q)][i], dtype=np.float64)
    l0 = float(c @ LUMA)
    if luma <= l0:
        return c * (luma / l0)
    return c + (1 - c) * (luma - l0) / (1 - l0)  # mix towards white


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random square crop at a random scale of china.jpg / flower.jpg, resized to size^2, in [0,1]."""
    from PIL import Image

    photo = _photos()[int(rng.integers(len(_photos())))]
    h, w = photo.shape[:2]
    side = rng.uniform(0.3, 0.9) * min(h, w)
    x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
    im = Image.fromarray(photo).resize((size, size), Image.BILINEAR, box=(x0, y0, x0 + side, y0 + side))
    bg = np.asarray(im, dtype=np.float64) / 255.0
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    return bg


def render_video(digit: int, motion: str, rng: np.random.Generator, frames: int = 32, size: int = 64,
                 sample: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Render one video: ``uint8 [frames, size, size, 3]`` and its :func:`motion_track`.

    ``sample`` picks the digit image (an index into that digit's ``load_digits`` samples); None
    draws one from ``rng``.
    """
    images, by_digit = _digits()
    pool = by_digit[digit]
    k = int(rng.integers(len(pool))) if sample is None else sample % len(pool)
    alpha_src = _glyph_alpha(images[pool[k]])
    G = alpha_src.shape[0]
    # colour: a bright glyph (luminance >= 0.8) over a background squeezed to luminance <= 0.55, or a
    # dark one (<= 0.2) over a background >= 0.45; the contrast is in luminance, so it survives
    # grayscale and colour jitter, and the hue is random
    bg = _background(rng, size)
    bright = rng.random() < 0.5
    hue, sat = rng.random(), rng.uniform(0.3, 1.0)
    if bright:
        color = _glyph_colour(hue, sat, rng.uniform(0.8, 0.95))
        lo, hi = rng.uniform(0.0, 0.08), rng.uniform(0.45, 0.55)
    else:
        color = _glyph_colour(hue, sat, rng.uniform(0.05, 0.2))
        lo, hi = rng.uniform(0.45, 0.55), rng.uniform(0.92, 1.0)
    bg = lo + (hi - lo) * bg
    base = rng.uniform(*GLYPH_SIZE) * size * G / (G - 2)  # side of the padded glyph box, pixels
    track = motion_track(motion, rng, frames, size)
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
    video = bg[None] * (1.0 - alpha) + color * alpha
    return np.clip(np.rint(video * 255.0), 0, 255).astype(np.uint8), track


def video_seed(seed: int, digit: int, motion: str, group: int) -> np.random.SeedSequence:
    """The per-video seed: depends only on (seed, digit, motion, group)."""
    return np.random.SeedSequence([int(seed), int(digit), MOTIONS.index(motion), int(group)])


def benchmark_sample(seed: int, digit: int, motion: str, group: int, videos_per_class: int) -> int:
    """Which ``load_digits`` image of ``digit`` the benchmark video (digit, motion, group) shows: a
    per-digit permutation walked through, so every video of a digit gets a different image."""
    n = len(_digits()[1][digit])
    perm = np.random.default_rng([int(seed), int(digit), 10_000]).permutation(n)
    return int(perm[(MOTIONS.index(motion) * videos_per_class + group - 1) % n])


def _make_one(job: tuple) -> str:
    path, digit, motion, group, sample, seed, frames, size = job
    rng = np.random.default_rng(video_seed(seed, digit, motion, group))
    video, _ = render_video(digit, motion, rng, frames, size, sample=sample)
    from .video_io import write_video

    write_video(path, video, fps=FPS)
    return path


# -------------------------------------------------------------------------------- the dataset ---
def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a directory")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError(f"{out}: directory is not empty (pass overwrite=True to replace it)")
        for name in ("videos", "splits"):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        for name in ("attributes.csv", "meta.json", "README.txt"):
            (out / name).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)


def generate_benchmark(out: str | Path, digits: int = 10, motions: int = 6, videos_per_class: int = 8,
                       frames: int = 32, size: int = 64, seed: int = 0, ext: str = "avi",
                       test_groups: int | None = None, workers: int = 1, progress: bool = True,
                       overwrite: bool = False) -> Path:
    """Write the digits x motions benchmark to ``out`` in the UCF101 layout and return ``out``.

    Layout: ``videos/<Class>/v_<Class>_gNN_c01.<ext>`` (one clip per group, ``videos_per_class``
    groups), ``splits/{classInd,trainlist01,testlist01}.txt`` (groups 1..test_groups are test),
    ``attributes.csv`` (``path,appearance,motion``, e.g. ``Digit3Fall/...avi,digit3,fall``),
    ``meta.json`` and ``README.txt``. Raises :class:`DataError` if ``out`` is non-empty and not
    ``overwrite``.
    """
    out = Path(out)
    ext = ext.lstrip(".").lower()
    if not 1 <= digits <= 10:
        raise DataError(f"digits must be in 1..10, got {digits}")
    if not 1 <= motions <= len(MOTIONS):
        raise DataError(f"motions must be in 1..{len(MOTIONS)}, got {motions}")
    if videos_per_class < 2:
        raise DataError(f"videos_per_class must be >= 2 (a train and a test group), got {videos_per_class}")
    if size < 16 or size % 2:
        raise DataError(f"size must be even and >= 16 (yuv420p), got {size}")
    if frames < 2:
        raise DataError(f"frames must be >= 2, got {frames}")
    if test_groups is None:
        test_groups = max(1, round(videos_per_class / 4))
    if not 1 <= test_groups < videos_per_class:
        raise DataError(f"test_groups must be in 1..{videos_per_class - 1}, got {test_groups}")
    _prepare_out(out, overwrite)
    motion_names = MOTIONS[:motions]
    classes = [class_name(d, m) for d in range(digits) for m in motion_names]
    jobs, train, test, attrs = [], [], [], []
    for ci, (d, m) in enumerate((d, m) for d in range(digits) for m in motion_names):
        cls = classes[ci]
        for g in range(1, videos_per_class + 1):
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.{ext}"
            sample = benchmark_sample(seed, d, m, g, videos_per_class)
            jobs.append((str(out / "videos" / rel), d, m, g, sample, seed, frames, size))
            if g <= test_groups:
                test.append(rel)
            else:
                train.append(f"{rel} {ci + 1}")
            attrs.append(f"{rel},digit{d},{m.lower()}")

    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="synth videos", unit="video", disable=not progress)
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for _ in pool.map(_make_one, jobs, chunksize=max(1, len(jobs) // (8 * workers))):
                bar.update()
    else:
        for job in jobs:
            _make_one(job)
            bar.update()
    bar.close()

    splits = out / "splits"
    splits.mkdir(exist_ok=True)
    (splits / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    (splits / "trainlist01.txt").write_text("".join(f"{line}\n" for line in train))
    (splits / "testlist01.txt").write_text("".join(f"{line}\n" for line in test))
    (out / "attributes.csv").write_text("path,appearance,motion\n" + "".join(f"{a}\n" for a in attrs))
    params = dict(digits=digits, motions=motions, videos_per_class=videos_per_class, frames=frames,
                  size=size, seed=seed, ext=ext, test_groups=test_groups, fps=FPS)
    meta = dict(generator="hdc_video.data.synth.generate_benchmark", params=params,
                motion_names=list(motion_names), classes=classes,
                num_train=len(train), num_test=len(test))
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    readme = [
        "HDC synthetic action benchmark (hdc_video.data.synth.generate_benchmark)",
        "",
        "Class = (handwritten digit = appearance, motion pattern = temporal factor), e.g. Digit3Fall.",
        "Layout follows UCF101: videos/<Class>/v_<Class>_gNN_c01.<ext>, splits/classInd.txt,",
        "splits/trainlist01.txt, splits/testlist01.txt; test = groups "
        + ", ".join(f"g{g:02d}" for g in range(1, test_groups + 1)) + ", train = the rest.",
        "attributes.csv gives each video's appearance (digitN) and motion (lower case) labels.",
        "",
        "Parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()),
        "",
        "Motions:",
        *(f"  {m}: {MOTION_HELP[m]}" for m in motion_names),
    ]
    (out / "README.txt").write_text("\n".join(readme) + "\n")
    return out
