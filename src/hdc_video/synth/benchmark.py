"""The built-in benchmark in the UCF101 layout: glyphs x motions, real video files, split files.

The action class is the (glyph, motion) pair, e.g. ``Digit3Fall`` (``glyphs="digits"``) or
``StarFall`` (``glyphs="shapes"``); ``attributes.csv`` gives each
video's two factors so a probe can measure appearance and motion features separately. One clip per
group (``cMM`` = ``c01``); groups ``g01 .. g{test_groups}`` are the test split, the rest train
(split 1 only, like UCF101's ``testlist01``). All randomness of a video comes from
``SeedSequence([seed, glyph, motion id, group])`` (plus the nuisance level and glyph kind where
they are not the original benchmark's), so the
output does not depend on ``workers`` and a class's videos do not depend on how many
digits/motions were requested.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from hdc_video.data.errors import DataError

from .assets import digits
from .motions import MOTION_HELP, MOTIONS
from .render import GLYPH_STYLES, GLYPHS, NUISANCES, render_video
from .scene import BACKGROUNDS, PANS
from .shapes import SHAPES
from .variants import VARIANTS

__all__ = ["FPS", "appearance_name", "benchmark_sample", "class_name", "generate_benchmark", "video_seed"]

FPS = 25
NUISANCE_HELP = {
    "none": "a static background cut from two photos; no camera motion",
    "scene": "every video its own textured, coloured background; the camera pans slowly",
}


def class_name(digit: int, motion: str, glyphs: str = "digits") -> str:
    return f"Digit{digit}{motion}" if glyphs == "digits" else f"{SHAPES[digit].capitalize()}{motion}"


def appearance_name(digit: int, glyphs: str = "digits") -> str:
    """The ``appearance`` value of attributes.csv: ``digit3`` or ``star``."""
    return f"digit{digit}" if glyphs == "digits" else SHAPES[digit]


def video_seed(
    seed: int,
    digit: int,
    motion: str,
    group: int,
    nuisance: str = "none",
    glyphs: str = "digits",
    background: str = "textures",
    pan: str = "slow",
    glyph: str = "bold",
) -> np.random.SeedSequence:
    """The per-video seed: depends only on (seed, glyph, motion, group), the nuisance level, the
    glyph kind and the scene's background and pan (``none`` with digits keeps the original
    benchmark's seeds, ``scene`` with textures and a slow pan the first nuisance benchmark's)."""
    key = [int(seed), int(digit), MOTIONS.index(motion), int(group)]
    if nuisance != "none" or glyphs != "digits":
        key += [NUISANCES.index(nuisance)] + ([GLYPHS.index(glyphs)] if glyphs != "digits" else [])
    if nuisance == "scene" and (background, pan, glyph) != ("textures", "slow", "bold"):
        key += [100 + BACKGROUNDS.index(background), 200 + list(PANS).index(pan), 300 + GLYPH_STYLES.index(glyph)]
    return np.random.SeedSequence(key)


def benchmark_sample(seed: int, digit: int, motion: str, group: int, videos_per_class: int) -> int:
    """Which ``load_digits`` image of ``digit`` the benchmark video (digit, motion, group) shows: a
    per-digit permutation walked through, so every video of a digit gets a different image."""
    n = len(digits()[1][digit])
    perm = np.random.default_rng([int(seed), int(digit), 10_000]).permutation(n)
    return int(perm[(MOTIONS.index(motion) * videos_per_class + group - 1) % n])


def _make_one(job: tuple) -> str:
    path, digit, motion, group, sample, seed, frames, size, nuisance, glyphs, background, pan, glyph = job
    rng = np.random.default_rng(video_seed(seed, digit, motion, group, nuisance, glyphs, background, pan, glyph))
    video, _ = render_video(
        digit,
        motion,
        rng,
        frames,
        size,
        sample=sample,
        nuisance=nuisance,
        glyphs=glyphs,
        background=background,
        pan=pan,
        glyph=glyph,
    )
    from hdc_video.data.video_io import write_video

    write_video(path, video, fps=FPS)
    return path


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


def generate_benchmark(
    out: str | Path,
    digits: int = 10,
    motions: int | Sequence[str] = 6,
    videos_per_class: int = 8,
    frames: int = 32,
    size: int = 64,
    seed: int = 0,
    ext: str = "avi",
    test_groups: int | None = None,
    workers: int = 1,
    progress: bool = True,
    overwrite: bool = False,
    nuisance: str = "none",
    glyphs: str = "digits",
    background: str = "textures",
    pan: str = "slow",
    glyph: str = "bold",
    variant: str | None = None,
) -> Path:
    """Write the digits x motions benchmark to ``out`` in the UCF101 layout and return ``out``.

    Layout: ``videos/<Class>/v_<Class>_gNN_c01.<ext>`` (one clip per group, ``videos_per_class``
    groups), ``splits/{classInd,trainlist01,testlist01}.txt`` (groups 1..test_groups are test),
    ``attributes.csv`` (``path,appearance,motion``, e.g. ``Digit3Fall/...avi,digit3,fall``),
    ``meta.json`` and ``README.txt``. ``nuisance``: ``none`` (static photo backgrounds) or ``scene``
    (per-video textured backgrounds and a panning camera, :mod:`hdc_video.synth.scene`). ``glyphs``:
    ``digits`` (``digits`` of them, handwritten) or ``shapes`` (the first ``digits`` of
    :data:`~hdc_video.synth.shapes.SHAPES`). ``motions``: the first N of
    :data:`~hdc_video.synth.motions.MOTIONS`, or their names. ``background`` / ``pan``: the scene's kind
    and camera speed, ``glyph`` how much the glyph stands out (``scene`` only). ``variant``: a name
    of :data:`~hdc_video.synth.variants.VARIANTS`
    -- sets ``nuisance="scene"``, ``background``, ``motions``, ``pan`` and ``glyph`` at once. Raises
    :class:`DataError` if ``out`` is non-empty and not ``overwrite``, or on a bad argument.
    """
    out = Path(out)
    ext = ext.lstrip(".").lower()
    if variant is not None:
        if variant not in VARIANTS:
            raise DataError(f"variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
        v = VARIANTS[variant]
        nuisance, background, motions, pan, glyph = "scene", v.background, v.motions, v.pan, v.glyph
    if background not in BACKGROUNDS or pan not in PANS or glyph not in GLYPH_STYLES:
        raise DataError(
            f"background must be one of {', '.join(BACKGROUNDS)}, pan one of {', '.join(PANS)} and "
            f"glyph one of {', '.join(GLYPH_STYLES)}, got {background!r}, {pan!r}, {glyph!r}"
        )
    if nuisance == "none" and (background, pan, glyph) != ("textures", "slow", "bold"):
        raise DataError("background, pan and glyph describe a scene: they need nuisance='scene'")
    if glyphs not in GLYPHS:
        raise DataError(f"glyphs must be one of {', '.join(GLYPHS)}, got {glyphs!r}")
    most = 10 if glyphs == "digits" else len(SHAPES)
    if not 1 <= digits <= most:
        raise DataError(f"{glyphs}: the appearance classes must be in 1..{most}, got {digits}")
    if isinstance(motions, int):
        if not 1 <= motions <= len(MOTIONS):
            raise DataError(f"motions must be in 1..{len(MOTIONS)}, got {motions}")
        motion_names = MOTIONS[:motions]
    else:
        motion_names = tuple(motions)
        unknown = [m for m in motion_names if m not in MOTIONS]
        if unknown or not motion_names or len(set(motion_names)) != len(motion_names):
            raise DataError(
                f"motions: {', '.join(motion_names) or 'none'} -- expected distinct names from {', '.join(MOTIONS)}"
            )
    if videos_per_class < 2:
        raise DataError(f"videos_per_class must be >= 2 (a train and a test group), got {videos_per_class}")
    if size < 16 or size % 2:
        raise DataError(f"size must be even and >= 16 (yuv420p), got {size}")
    if frames < 2:
        raise DataError(f"frames must be >= 2, got {frames}")
    if nuisance not in NUISANCES:
        raise DataError(f"nuisance must be one of {', '.join(NUISANCES)}, got {nuisance!r}")
    if test_groups is None:
        test_groups = max(1, round(videos_per_class / 4))
    if not 1 <= test_groups < videos_per_class:
        raise DataError(f"test_groups must be in 1..{videos_per_class - 1}, got {test_groups}")
    _prepare_out(out, overwrite)
    classes = [class_name(d, m, glyphs) for d in range(digits) for m in motion_names]
    jobs, train, test, attrs = [], [], [], []
    for ci, (d, m) in enumerate((d, m) for d in range(digits) for m in motion_names):
        cls = classes[ci]
        for g in range(1, videos_per_class + 1):
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.{ext}"
            sample = benchmark_sample(seed, d, m, g, videos_per_class) if glyphs == "digits" else None
            jobs.append(
                (
                    str(out / "videos" / rel),
                    d,
                    m,
                    g,
                    sample,
                    seed,
                    frames,
                    size,
                    nuisance,
                    glyphs,
                    background,
                    pan,
                    glyph,
                )
            )
            if g <= test_groups:
                test.append(rel)
            else:
                train.append(f"{rel} {ci + 1}")
            attrs.append(f"{rel},{appearance_name(d, glyphs)},{m.lower()}")

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
    params = dict(
        digits=digits,
        motions=len(motion_names),
        videos_per_class=videos_per_class,
        frames=frames,
        size=size,
        seed=seed,
        ext=ext,
        test_groups=test_groups,
        fps=FPS,
        nuisance=nuisance,
        glyphs=glyphs,
    )
    if nuisance == "scene":
        params.update(background=background, pan=pan, glyph=glyph)
    if variant is not None:
        params["variant"] = variant
    meta = dict(
        generator="hdc_video.synth.generate_benchmark",
        params=params,
        motion_names=list(motion_names),
        classes=classes,
        num_train=len(train),
        num_test=len(test),
    )
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    readme = [
        "HDC synthetic action benchmark (hdc_video.synth.generate_benchmark)",
        "",
        f"Class = ({'handwritten digit' if glyphs == 'digits' else 'shape'} = appearance, motion pattern = "
        f"temporal factor), e.g. {classes[0]}.",
        "Layout follows UCF101: videos/<Class>/v_<Class>_gNN_c01.<ext>, splits/classInd.txt,",
        "splits/trainlist01.txt, splits/testlist01.txt; test = groups "
        + ", ".join(f"g{g:02d}" for g in range(1, test_groups + 1))
        + ", train = the rest.",
        f"attributes.csv gives each video's appearance ({'digitN' if glyphs == 'digits' else 'the shape'}) and "
        "motion (lower case) labels.",
        f"Nuisances: {nuisance} ({NUISANCE_HELP[nuisance]})"
        + (f"; background {background}, camera pan {pan}, {glyph} glyph." if nuisance == "scene" else "."),
        "",
        "Parameters: " + ", ".join(f"{k}={v}" for k, v in params.items()),
        "",
        "Motions:",
        *(f"  {m}: {MOTION_HELP[m]}" for m in motion_names),
    ]
    (out / "README.txt").write_text("\n".join(readme) + "\n")
    return out
