"""The built-in benchmark: layout, decodability, determinism and the motion semantics."""

from __future__ import annotations

import csv
import json

import av
import numpy as np
import pytest

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import read_labels_csv, read_ucf101, relabel
from hdc_video.synth import MOTIONS, benchmark_sample, generate_benchmark, motion_track, render_video, video_seed

TINY = dict(digits=3, motions=5, videos_per_class=3, frames=16, size=48, seed=7)


def decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp("synth") / "bench", progress=False, **TINY)


def test_layout_reads_back_as_ucf101(bench):
    names = [f"Digit{d}{m}" for d in range(3) for m in MOTIONS[:5]]
    assert (bench / "splits" / "classInd.txt").read_text().splitlines() == [f"{i + 1} {c}" for i, c in enumerate(names)]
    train = read_ucf101(bench, subset="train")
    test = read_ucf101(bench, subset="test")
    assert train.classes == test.classes == names
    assert len(train) == 15 * 2 and len(test) == 15 * 1  # default test_groups = 1 of 3
    assert np.bincount(train.labels).tolist() == [2] * 15 and np.bincount(test.labels).tolist() == [1] * 15
    for e in list(train) + list(test):
        cls, fname = e.rel.split("/")
        assert cls == names[e.label] and fname.startswith(f"v_{cls}_g") and fname.endswith("_c01.avi")
        assert e.path.is_file()
    group = lambda e: (e.rel.split("/")[0], int(e.rel.split("_g")[1][:2]))  # noqa: E731
    assert {g for _, g in map(group, test)} == {1} and {g for _, g in map(group, train)} == {2, 3}
    assert not set(map(group, train)) & set(map(group, test))
    files = sorted(p.relative_to(bench / "videos").as_posix() for p in (bench / "videos").rglob("*.avi"))
    assert files == sorted(e.rel for e in list(train) + list(test))
    meta = json.loads((bench / "meta.json").read_text())
    assert meta["params"]["seed"] == 7 and meta["motion_names"] == list(MOTIONS[:5])
    assert "Fall" in (bench / "README.txt").read_text()


def test_attributes_agree_with_classes(bench):
    with (bench / "attributes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "appearance", "motion"] and len(rows) == 45
    for r in rows:
        cls = r["path"].split("/")[0]
        assert cls == f"Digit{r['appearance'].removeprefix('digit')}{r['motion'].capitalize()}"
    test = read_ucf101(bench, subset="test")
    motion = relabel(test, read_labels_csv(bench / "attributes.csv", "motion"))
    assert motion.classes == sorted(m.lower() for m in MOTIONS[:5])
    assert [motion.classes[e.label] for e in motion] == [test.classes[e.label][len("Digit0") :].lower() for e in test]
    app = relabel(test, read_labels_csv(bench / "attributes.csv", "appearance"))
    assert app.classes == ["digit0", "digit1", "digit2"]
    assert app.labels.tolist() == [e.label // 5 for e in test]


@pytest.mark.slow
def test_every_video_decodes_and_matches_its_rendering(bench):
    for e in read_ucf101(bench, subset="train").entries + read_ucf101(bench, subset="test").entries:
        frames = decode(e.path)
        assert frames.shape == (16, 48, 48, 3)
    # the file shows what the renderer drew (up to codec error)
    e = read_ucf101(bench, subset="test")[3]
    d, m = 0, MOTIONS[3]
    assert e.rel.startswith(f"Digit{d}{m}/")
    rng = np.random.default_rng(video_seed(7, d, m, 1))
    want, _ = render_video(d, m, rng, 16, 48, sample=benchmark_sample(7, d, m, 1, 3))
    got = decode(e.path).astype(float)
    err = np.abs(got - want).mean()
    assert err < 8.0, err
    other, _ = render_video(d, m, np.random.default_rng(video_seed(7, d, m, 2)), 16, 48)
    assert np.abs(got - other).mean() > 3 * err  # a different draw is far off
    # every video of a digit shows a different handwritten sample
    samples = {benchmark_sample(7, 0, m, g, 3) for m in MOTIONS for g in (1, 2, 3)}
    assert len(samples) == len(MOTIONS) * 3


@pytest.mark.slow
def test_deterministic_and_worker_independent(bench, tmp_path):
    again = generate_benchmark(tmp_path / "again", workers=2, progress=False, **TINY)
    for name in (
        "splits/classInd.txt",
        "splits/trainlist01.txt",
        "splits/testlist01.txt",
        "attributes.csv",
        "meta.json",
    ):
        assert (bench / name).read_bytes() == (again / name).read_bytes(), name
    for rel in ("Digit0Fall/v_Digit0Fall_g01_c01.avi", "Digit2Pulse/v_Digit2Pulse_g03_c01.avi"):
        np.testing.assert_array_equal(decode(bench / "videos" / rel), decode(again / "videos" / rel))
    other = generate_benchmark(tmp_path / "other", progress=False, **{**TINY, "seed": 8, "digits": 1})
    rel = "Digit0Fall/v_Digit0Fall_g01_c01.avi"
    assert not np.array_equal(decode(bench / "videos" / rel), decode(other / "videos" / rel))


def test_refuses_non_empty_out(bench, tmp_path):
    with pytest.raises(DataError, match="not empty"):
        generate_benchmark(bench, progress=False, **TINY)
    out = tmp_path / "o"
    out.mkdir()
    (out / "stale.txt").write_text("x")
    with pytest.raises(DataError):
        generate_benchmark(out, progress=False, **TINY)
    generate_benchmark(out, progress=False, overwrite=True, **{**TINY, "digits": 1, "motions": 1})
    assert len(read_ucf101(out, subset="test")) == 1
    with pytest.raises(DataError, match="motions"):
        generate_benchmark(tmp_path / "p", motions=len(MOTIONS) + 1, progress=False)


def _glyph_centre(frames: np.ndarray) -> np.ndarray:
    """Per-frame (x, y) centre of the glyph, found from the file alone: the glyph is one colour whose
    luminance is >= 64 grey levels above (or below) every background pixel."""
    gray = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    dev = gray - np.median(gray, axis=0)
    bright = (dev > 40).sum() > (dev < -40).sum()  # the glyph mostly covers non-glyph median pixels
    level = np.percentile(gray, 99.5 if bright else 0.5)
    w = (gray > level - 40) if bright else (gray < level + 40)
    ys, xs = np.mgrid[0 : gray.shape[1], 0 : gray.shape[2]]
    tot = w.sum((1, 2)) + 1e-9
    return np.stack([(w * xs).sum((1, 2)) / tot, (w * ys).sum((1, 2)) / tot], 1)


@pytest.mark.slow
def test_motions_in_the_files(bench):
    """Measured on the decoded videos: Fall goes down, Rise goes up, Shuttle goes left AND right."""
    idx = read_ucf101(bench, subset="train").entries + read_ucf101(bench, subset="test").entries
    dy = {"Fall": [], "Rise": []}
    shuttles = 0
    for e in idx:
        m = e.rel.split("/")[0][len("Digit0") :]
        if m not in ("Fall", "Rise", "Shuttle"):
            continue
        c = _glyph_centre(decode(e.path))
        if m == "Shuttle":
            steps = np.diff(c[:, 0])
            assert np.ptp(c[:, 0]) > 0.2 * 48 and np.ptp(c[:, 1]) < 0.1 * 48
            assert min(steps[steps > 0].sum(), -steps[steps < 0].sum()) > 0.3 * np.abs(steps).sum()
            shuttles += 1
        else:
            dy[m].append(np.polyfit(np.arange(len(c)), c[:, 1], 1)[0] * (len(c) - 1))  # net drift, px
            assert np.ptp(c[:, 0]) < 0.15 * 48  # mostly vertical
    assert len(dy["Fall"]) == len(dy["Rise"]) == shuttles == 9
    assert min(dy["Fall"]) > 0.2 * 48 and max(dy["Rise"]) < -0.2 * 48
    assert abs(np.mean(dy["Fall"]) + np.mean(dy["Rise"])) < 0.1 * 48  # same speeds, opposite signs


@pytest.mark.parametrize("backward, forward", [("Rise", "Fall"), ("Shrink", "Grow")])
def test_arrow_of_time_pairs_are_each_other_reversed(backward, forward):
    for i in range(20):
        fwd = motion_track(forward, np.random.default_rng(i), 32, 64)
        bwd = motion_track(backward, np.random.default_rng(i), 32, 64)
        for k in fwd:
            np.testing.assert_array_equal(bwd[k], fwd[k][::-1])


def test_rise_and_fall_positions_overlap():
    ys = lambda m: np.concatenate(
        [
            motion_track(m, np.random.default_rng(100 + i), 32, 64)["cy"]  # noqa: E731
            for i in range(200)
        ]
    )
    yf, yr = ys("Fall"), ys("Rise")
    assert abs(np.median(yf) - np.median(yr)) < 2.0  # same position distribution, opposite arrow of time
    assert abs(yf.std() - yr.std()) < 1.5


@pytest.mark.parametrize("motion", MOTIONS)
def test_mirror_symmetric_and_visible_over_16_frames(motion):
    """No pattern has a left/right preference (a horizontal flip maps the class onto itself) and every
    pattern but Still visibly moves the glyph within 16 of 32 frames at 64x64."""
    S, T, n = 64, 32, 300
    box = np.stack(np.meshgrid(np.linspace(-0.5, 0.5, 5), np.linspace(-0.5, 0.5, 5)), -1).reshape(-1, 2) * 0.4 * S
    net_dx, spin, moved = [], [], []
    for i in range(n):
        tr = motion_track(motion, np.random.default_rng([i, 99]), T, S)
        net_dx.append(tr["cx"][-1] - tr["cx"][0])
        spin.append(np.diff(np.unwrap(np.arctan2(tr["cy"] - tr["cy"].mean(), tr["cx"] - tr["cx"].mean()))).sum())
        c, s = np.cos(tr["angle"]), np.sin(tr["angle"])
        rot = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2)  # [T, 2, 2]
        pts = np.einsum("tij,pj->tpi", rot, box) * tr["scale"][:, None, None]
        pts += np.stack([tr["cx"], tr["cy"]], -1)[:, None]
        st = (i * 5) % (T - 15)
        moved.append(np.linalg.norm(pts[st : st + 16] - pts[st], axis=-1).mean(-1).max())
    net_dx, spin = np.array(net_dx), np.array(spin)
    # horizontal: mean displacement ~0 relative to the frame, both directions about equally often
    assert abs(net_dx.mean()) < 0.03 * S
    if np.abs(net_dx).max() > 1.0:
        assert 0.35 < (net_dx > 0).mean() < 0.65
    if motion == "Orbit":  # clockwise and anticlockwise both occur (a flip swaps them)
        assert 0.35 < (spin > 0).mean() < 0.65 and np.abs(spin).min() > np.pi
    if motion == "Shuttle":  # horizontal only, and it comes back
        tr = motion_track(motion, np.random.default_rng(0), T, S)
        assert np.ptp(tr["cy"]) == 0 and np.ptp(tr["cx"]) > 0.2 * S
        assert (np.diff(tr["cx"]) > 0).any() and (np.diff(tr["cx"]) < 0).any()
    moved = np.array(moved)
    if motion == "Still":
        assert moved.max() < 2.5
    else:
        assert moved.min() > 2.5 and np.median(moved) > 5.0


def test_render_contrast_survives_grayscale():
    for i, m in enumerate(MOTIONS):
        video, tr = render_video(i % 10, m, np.random.default_rng(i), 8, 64)
        assert video.shape == (8, 64, 64, 3) and video.dtype == np.uint8
        gray = video.astype(float) @ np.array([0.299, 0.587, 0.114])
        cx, cy = int(round(tr["cx"][0])), int(round(tr["cy"][0]))
        assert gray[0].max() - gray[0].min() > 100
        # the glyph is visible in luminance: the glyph box differs from the frame border
        inner = gray[0, max(cy - 8, 0) : cy + 8, max(cx - 8, 0) : cx + 8]
        assert abs(np.percentile(inner, 90) - np.percentile(inner, 10)) > 60


# ------------------------------------------------------------------------ nuisance = scene


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    return generate_benchmark(tmp_path_factory.mktemp("scene") / "bench", progress=False, nuisance="scene", **TINY)


def _border(video: np.ndarray, width: int = 6) -> np.ndarray:
    """Per-frame mean colour of the frame's border strip (where the glyph rarely is): ``[T, 3]``."""
    mask = np.ones(video.shape[1:3], dtype=bool)
    mask[width:-width, width:-width] = False
    return video[:, mask].astype(float).mean(1)


@pytest.mark.slow
def test_scene_layout_attributes_and_meta_read_back(scene):
    train, test = read_ucf101(scene, subset="train"), read_ucf101(scene, subset="test")
    assert len(train) == 30 and len(test) == 15
    meta = json.loads((scene / "meta.json").read_text())
    assert meta["params"]["nuisance"] == "scene"
    assert "Nuisances: scene" in (scene / "README.txt").read_text()
    app = relabel(test, read_labels_csv(scene / "attributes.csv", "appearance"))
    assert app.labels.tolist() == [e.label // 5 for e in test]


def test_scene_backgrounds_identify_the_video_not_the_class():
    """Two videos of one class differ in background colour and texture; one video's background
    stays the same over time (the camera only pans)."""
    rng = lambda g: np.random.default_rng(video_seed(7, 2, "Still", g, "scene"))  # noqa: E731
    a, _ = render_video(2, "Still", rng(1), 16, 48, nuisance="scene")
    b, _ = render_video(2, "Still", rng(2), 16, 48, nuisance="scene")
    ba, bb = _border(a), _border(b)
    within = np.abs(ba - ba[0]).max()  # over time, one video
    between = np.abs(ba.mean(0) - bb.mean(0)).max()  # two videos of the same class
    assert within < 12 and between > 3 * within
    # texture: the background's spatial detail differs between the two videos
    grey = lambda v: v[0].astype(float) @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    assert abs(np.std(np.diff(grey(a), axis=1)) - np.std(np.diff(grey(b), axis=1))) > 0.5 or between > 20
    # the camera moves: a static-glyph video is not static
    assert np.abs(a[-1].astype(float) - a[0].astype(float)).mean() > 1.0
    # none is still the original benchmark: a fixed background with no pan (Still: ~1 px jitter)
    c, _ = render_video(2, "Still", np.random.default_rng(video_seed(7, 2, "Still", 1)), 16, 48)
    assert np.abs(_border(c) - _border(c)[0]).max() < 3


def test_scene_seeds_differ_from_none_seeds_and_render_deterministically():
    assert video_seed(0, 1, "Fall", 1).entropy == video_seed(0, 1, "Fall", 1, "none").entropy
    assert video_seed(0, 1, "Fall", 1, "scene").spawn_key == () and list(
        video_seed(0, 1, "Fall", 1, "scene").entropy
    ) != list(video_seed(0, 1, "Fall", 1).entropy)
    one, _ = render_video(4, "Orbit", np.random.default_rng(5), 8, 32, nuisance="scene")
    two, _ = render_video(4, "Orbit", np.random.default_rng(5), 8, 32, nuisance="scene")
    assert np.array_equal(one, two)
    with pytest.raises(ValueError, match="nuisance must be one of none, scene"):
        render_video(4, "Orbit", np.random.default_rng(5), 8, 32, nuisance="fog")
    with pytest.raises(DataError, match="nuisance must be one of"):
        generate_benchmark("/tmp/never-written", nuisance="fog")


def test_shapes_are_distinct_solid_and_vary_per_video():
    from hdc_video.synth.shapes import SHAPES, shape_alpha

    masks = {s: shape_alpha(s, np.random.default_rng(0)) for s in SHAPES}
    for s, m in masks.items():
        assert m.shape == (34, 34) and m[0].max() == 0 and 0.15 < m.mean() < 0.8, s
    for i, a in enumerate(SHAPES):
        for b in SHAPES[i + 1 :]:
            inter = np.minimum(masks[a], masks[b]).sum()
            union = np.maximum(masks[a], masks[b]).sum()
            assert inter / union < 0.85, (a, b)
    other = shape_alpha("star", np.random.default_rng(1))
    assert np.abs(other - masks["star"]).mean() > 0.005  # per-video variation
    with pytest.raises(ValueError, match="unknown shape"):
        shape_alpha("blob", np.random.default_rng(0))


def test_shapes_benchmark_names_and_attributes(tmp_path):
    out = generate_benchmark(
        tmp_path / "b",
        digits=3,
        motions=2,
        videos_per_class=2,
        frames=8,
        size=32,
        nuisance="scene",
        glyphs="shapes",
        progress=False,
    )
    train = read_ucf101(out, subset="train")
    assert train.classes == ["CircleFall", "CircleRise", "SquareFall", "SquareRise", "TriangleFall", "TriangleRise"]
    with (out / "attributes.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["appearance"] for r in rows} == {"circle", "square", "triangle"}
    assert json.loads((out / "meta.json").read_text())["params"]["glyphs"] == "shapes"
    assert "shape = appearance" in (out / "README.txt").read_text()
    with pytest.raises(DataError, match="shapes: the appearance classes must be in 1..8"):
        generate_benchmark(tmp_path / "c", digits=9, glyphs="shapes")


# ------------------------------------------------------------------------ the benchmark family


def test_grow_swells_in_place():
    for i in range(10):
        grow = motion_track("Grow", np.random.default_rng(i), 32, 64)
        assert (
            (np.diff(grow["scale"]) > 0).all()
            and np.ptp(grow["cx"]) == 0
            and grow["scale"][-1] / grow["scale"][0] > 2.4
        )


def test_textures_variant_is_the_original_nuisance_benchmark():
    from hdc_video.synth.variants import VARIANTS

    v = VARIANTS["textures"]
    assert (v.background, v.pan, v.glyph, v.motions) == ("textures", "slow", "bold", MOTIONS[:5])
    assert (
        video_seed(0, 1, "Fall", 2, "scene", "shapes").entropy
        == video_seed(0, 1, "Fall", 2, "scene", "shapes", "textures", "slow", "bold").entropy
    )
    assert (
        video_seed(0, 1, "Fall", 2, "scene", "shapes", "smooth").entropy
        != video_seed(0, 1, "Fall", 2, "scene", "shapes").entropy
    )


@pytest.mark.parametrize("variant", ["smooth", "flat", "photos", "faint", "mixed"])
def test_every_variant_writes_a_readable_benchmark_with_its_motions(tmp_path, variant):
    from hdc_video.synth.variants import VARIANTS

    v = VARIANTS[variant]
    out = generate_benchmark(
        tmp_path / variant,
        digits=2,
        videos_per_class=2,
        frames=12,
        size=32,
        seed=3,
        glyphs="shapes",
        variant=variant,
        progress=False,
    )
    meta = json.loads((out / "meta.json").read_text())
    assert meta["motion_names"] == list(v.motions) and meta["params"]["variant"] == variant
    assert (meta["params"]["background"], meta["params"]["pan"], meta["params"]["glyph"]) == (
        v.background,
        v.pan,
        v.glyph,
    )
    test = read_ucf101(out, subset="test")
    motion = relabel(test, read_labels_csv(out / "attributes.csv", "motion"))
    assert motion.classes == sorted(m.lower() for m in v.motions)
    assert decode(test[0].path).shape == (12, 32, 32, 3)


def _scene(background: str, pan: str = "slow", glyph: str = "bold", seed: int = 0, motion: str = "Still"):
    rng = np.random.default_rng(video_seed(seed, 1, motion, 1, "scene", "shapes", background, pan, glyph))
    return render_video(
        1, motion, rng, 16, 48, nuisance="scene", glyphs="shapes", background=background, pan=pan, glyph=glyph
    )[0].astype(float)


def test_backgrounds_differ_the_way_they_say():
    grey = lambda v: v @ np.array([0.299, 0.587, 0.114])  # noqa: E731
    detail = lambda v: np.abs(np.diff(grey(v[0, :8]), axis=1)).mean()  # the top rows: background only
    flat, smooth, textures = _scene("flat", "none"), _scene("smooth"), _scene("textures", seed=2)
    assert detail(flat) < 0.5 < detail(smooth) < detail(textures)
    from hdc_video.synth.scene import scene_canvas

    lum = lambda bg: [np.ptp(grey(scene_canvas(np.random.default_rng(i), 64, 64, 0.05, 0.5, bg))) for i in range(8)]  # noqa: E731
    assert max(lum("smooth")) < 0.3 < min(lum("textures")) and max(lum("flat")) < 1e-9  # low contrast, none
    # a still camera keeps a still background; a fast pan moves it more than a slow one
    border = lambda v: np.abs(_border(v)[-1] - _border(v)[0]).max()  # noqa: E731
    assert border(flat) < 1.0
    move = lambda pan: np.abs(_scene("photos", pan, seed=4)[-1] - _scene("photos", pan, seed=4)[0]).mean()  # noqa: E731
    assert move("fast") > move("slow") > move("none")


def test_a_faint_glyph_is_smaller_and_closer_to_its_background():
    grey = lambda v: v @ np.array([0.299, 0.587, 0.114])  # noqa: E731

    def contrast(glyph):
        out = []
        for seed in range(6):
            rng = np.random.default_rng(video_seed(seed, 0, "Still", 1, "scene", "shapes", "flat", "none", glyph))
            v, tr = render_video(
                0, "Still", rng, 2, 64, nuisance="scene", glyphs="shapes", background="flat", pan="none", glyph=glyph
            )
            g = grey(v[0].astype(float))
            out.append(abs(g[int(tr["cy"][0]), int(tr["cx"][0])] - g[1, 1]))
        return np.median(out)

    assert contrast("faint") < 0.7 * contrast("bold")
    with pytest.raises(DataError, match="glyph one of bold, faint"):
        generate_benchmark("/tmp/never-written", nuisance="scene", glyph="ghost")
    with pytest.raises(DataError, match="need nuisance='scene'"):
        generate_benchmark("/tmp/never-written", background="smooth")
    with pytest.raises(DataError, match="variant must be one of"):
        generate_benchmark("/tmp/never-written", variant="fog")
