"""``hdc synth``: write the built-in benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from hdc_video.synth.motions import MOTIONS
from hdc_video.synth.scene import BACKGROUNDS, PANS
from hdc_video.synth.variants import VARIANTS


def _motions(text: str) -> int | tuple[str, ...]:
    if text.isdigit():
        return int(text)
    names = tuple(n.strip().capitalize() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in MOTIONS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown motion(s) {', '.join(bad) or text!r}; known: {', '.join(MOTIONS)}")
    return names


def add_parser(sub) -> None:
    p = sub.add_parser(
        "synth",
        help="write the built-in benchmark (real videos, UCF101 layout)",
        description="Generate the built-in digits x motions action benchmark as real video "
        "files in the UCF101 layout (videos/, splits/, attributes.csv).",
    )
    p.add_argument("out", type=Path, help="output folder (must be empty unless --overwrite)")
    p.add_argument(
        "--glyphs",
        default="shapes",
        choices=["shapes", "digits"],
        help="the appearance factor: geometric shapes (default; circle, square, triangle, cross, ring, star, "
        "crescent, tee) or handwritten digits (scikit-learn's 8x8 load_digits: hard for a tiny "
        "network to recognise, see docs/RESULTS.md)",
    )
    p.add_argument(
        "--appearances",
        "--digits",
        dest="digits",
        type=int,
        default=None,
        help="appearance classes: the first N shapes (max 8) or digits 0..N-1 (max 10); default 6 shapes, 10 digits",
    )
    p.add_argument(
        "--motions",
        type=_motions,
        default=None,
        help=f"motion classes: the first N (max 10; default 6) or comma-separated names ({', '.join(MOTIONS)})",
    )
    p.add_argument("--videos-per-class", type=int, default=8, help="videos (groups) per action class")
    p.add_argument("--test-groups", type=int, default=None, help="groups held out for testing (default: 1/4)")
    p.add_argument("--frames", type=int, default=32, help="frames per video")
    p.add_argument("--size", type=int, default=64, help="frame width and height (even)")
    p.add_argument("--ext", default="avi", choices=["avi", "mp4", "mkv"], help="container (avi = mpeg4 like UCF101)")
    p.add_argument(
        "--seed", type=int, default=0, help="generator seed (another seed: another dataset of the same kind)"
    )
    p.add_argument(
        "--nuisance",
        default="scene",
        choices=["scene", "none"],
        help="scene (default): every video its own textured, coloured background and a slowly panning "
        "camera -- the nuisances of real video; none: static photo backgrounds (the original benchmark)",
    )
    p.add_argument(
        "--background",
        default=None,
        choices=BACKGROUNDS,
        help="with --nuisance scene: the backgrounds (default textures; smooth = low-contrast coloured "
        "noise, flat = one colour, photos = colour photo crops, mixed = any, per video)",
    )
    p.add_argument(
        "--pan",
        default=None,
        choices=list(PANS),
        help="with --nuisance scene: camera pan speed "
        "(default slow: 4-15%% of the frame over the video; fast: 15-30%%; none)",
    )
    p.add_argument(
        "--variant",
        default=None,
        choices=list(VARIANTS),
        help="a member of the benchmark family (sets --nuisance scene, --background, --motions, --pan; "
        "docs/RESULTS.md): " + "; ".join(f"{k}: {v.about}" for k, v in VARIANTS.items()),
    )
    p.add_argument("--workers", type=int, default=2, help="processes")
    p.add_argument("--overwrite", action="store_true", help="replace an existing benchmark in OUT")


def run(a) -> int:
    from hdc_video.synth import generate_benchmark

    if a.digits is None:
        a.digits = 6 if a.glyphs == "shapes" else 10
    scene = {}
    if a.variant is not None:  # the variant's axes, then any given explicitly
        v = VARIANTS[a.variant]
        a.nuisance, scene = "scene", dict(background=v.background, motions=v.motions, pan=v.pan, glyph=v.glyph)
    for key in ("background", "pan", "motions"):
        if getattr(a, key) is not None:
            scene[key] = getattr(a, key)
    scene.setdefault("motions", 6)
    out = generate_benchmark(
        a.out,
        digits=a.digits,
        videos_per_class=a.videos_per_class,
        frames=a.frames,
        size=a.size,
        seed=a.seed,
        ext=a.ext,
        test_groups=a.test_groups,
        workers=a.workers,
        overwrite=a.overwrite,
        nuisance=a.nuisance,
        glyphs=a.glyphs,
        **scene,
    )
    print(f"benchmark written to {out}")
    return 0
