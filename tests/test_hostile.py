"""A hostile corpus (broken, odd and extreme files) through PretrainDataset + make_pretrain_loader.

Built with the project's writer and raw bytes: every bad case is skipped with one logged line and
reported by the loader's SkipTracker (also across worker processes), batches stay full, no good
file is dropped, and a flood of failures aborts with a clear DataError.
"""

from __future__ import annotations

import logging
import os
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from hdc_video.data.decoders import VideoInfo, make_decoder, write_frame_folder
from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoEntry, VideoIndex, open_index
from hdc_video.data.loading.pretrain import PretrainDataset, make_pretrain_loader
from hdc_video.data.loading.skips import SkipTracker
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.data.video_io import write_video

H, W = 32, 48


def numbered(n: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame t: left half grey 16*(t//16)+8, right half grey 16*(t%16)+8; a bright top-left marker."""
    t = np.arange(n)
    frames = np.empty((n, h, w, 3), np.uint8)
    frames[:, :, : w // 2] = (16 * (t // 16) + 8).astype(np.uint8)[:, None, None, None]
    frames[:, :, w // 2 :] = (16 * (t % 16) + 8).astype(np.uint8)[:, None, None, None]
    frames[:, : h // 4, : w // 6] = 255
    return frames


def write_custom(
    path: Path,
    frames: np.ndarray,
    rotation: int = 0,
    pts_ms: list[int] | None = None,
    codec: str = "libx264",
    gop: int | None = None,
) -> Path:
    """A video with a display-matrix rotation and/or hand-set presentation timestamps (VFR)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=25)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if gop:
            s.codec_context.gop_size = gop
        s.options = {"crf": "12", "preset": "veryfast"} if codec == "libx264" else {}
        if pts_ms is not None:
            s.codec_context.time_base = Fraction(1, 1000)
            s.time_base = Fraction(1, 1000)
        if rotation:
            s.set_display_rotation(rotation)
        for k, fr in enumerate(frames):
            f = av.VideoFrame.from_ndarray(fr, format="rgb24")
            if pts_ms is not None:
                f.pts, f.time_base = pts_ms[k], Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def write_audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in list(s.encode(frame)) + list(s.encode()):
            c.mux(p)
    return path


def vfr_pts(n: int) -> list[int]:
    steps = [40 if k % 3 else 100 for k in range(n)]
    return [int(v) for v in np.concatenate([[0], np.cumsum(steps)[:-1]])]


def build_corpus(root: Path) -> dict:
    """A CSV-format dataset (``root/train.csv``): good files (plain, rotated, grayscale odd-size,
    yuv444, VFR, 1080p x4 frames, a JPEG folder) and every bad case."""
    good: dict[str, int] = {}  # rel -> frames
    for k in range(4):
        n = 30 + 6 * k
        write_video(root / "c0" / f"plain{k}.avi", numbered(n), quality=2)
        good[f"c0/plain{k}.avi"] = n
    write_video(root / "c1" / "plain.mp4", numbered(24), quality=2)
    good["c1/plain.mp4"] = 24
    write_video(root / "c1" / "plain.mkv", numbered(26), quality=2)
    good["c1/plain.mkv"] = 26
    write_custom(root / "c1" / "rotated.mp4", numbered(20), rotation=90)
    good["c1/rotated.mp4"] = 20
    write_video(root / "c0" / "gray_odd.mkv", numbered(20, 33, 47), codec="ffv1", pix_fmt="gray")
    good["c0/gray_odd.mkv"] = 20
    write_video(root / "c1" / "yuv444_odd.mp4", numbered(20, 33, 47), pix_fmt="yuv444p", quality=2)
    good["c1/yuv444_odd.mp4"] = 20
    write_custom(root / "c0" / "vfr.mp4", numbered(30), pts_ms=vfr_pts(30))
    good["c0/vfr.mp4"] = 30
    write_video(root / "c1" / "hd1080.mp4", numbered(4, 1080, 1920), quality=4)
    good["c1/hd1080.mp4"] = 4
    write_frame_folder(numbered(16), root / "c0" / "jpeg_video", quality=95)
    good["c0/jpeg_video"] = 16

    bad: dict[str, str] = {}  # rel -> expected fragment of the reason
    (root / "c0" / "empty.avi").write_bytes(b"")
    bad["c0/empty.avi"] = "empty file"
    (root / "c0" / "text.avi").write_text("this is not a video\n" * 40)
    bad["c0/text.avi"] = "cannot open"
    full = write_video(root / "tmp" / "long.avi", numbered(120), quality=2).read_bytes()
    (root / "c1" / "truncated.avi").write_bytes(full[: len(full) // 2])  # header says 120, ~26 decodable
    bad["c1/truncated.avi"] = "truncated"
    write_audio_only(root / "c0" / "audio_only.mkv")
    bad["c0/audio_only.mkv"] = "no video stream"
    write_video(root / "c1" / "two_frames.mp4", numbered(2))
    bad["c1/two_frames.mp4"] = "too few frames: 2"
    write_video(root / "c0" / "one_frame.avi", numbered(1))
    bad["c0/one_frame.avi"] = "too few frames: 1"
    (root / "c1" / "unreadable.avi").mkdir(parents=True)  # stands in for a permission error (root reads all)
    bad["c1/unreadable.avi"] = "is a directory|no JPEG frames"  # pyav | auto decoder
    bad["c0/missing.avi"] = "file not found"
    for p in (root / "tmp").iterdir():
        p.unlink()
    (root / "tmp").rmdir()

    rows = (
        ["path,label,note"]
        + [f"{rel},{rel.split('/')[0]},good" for rel in good]
        + [f"{rel},{rel.split('/')[0]},bad" for rel in bad]
    )
    (root / "train.csv").write_text("\n".join(rows) + "\n")
    return {"root": root, "good": good, "bad": bad}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("hostile"))


def _dataset(corpus, **kw):
    index = open_index(corpus["root"], format="auto")
    sampler = TwoCropSampler(4, 2)
    augment = ClipAugment(16, scale=(0.5, 1.0), jitter=0.0, grayscale=0.0)
    return PretrainDataset(index, make_decoder("auto"), sampler, augment, **kw)


def test_corpus_index(corpus):
    index = open_index(corpus["root"])
    assert len(index) == len(corpus["good"]) + len(corpus["bad"]) == 20
    assert index.classes == ["c0", "c1"] and index[0].meta == {"note": "good"}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_epoch_over_hostile_corpus(corpus, workers, caplog):
    ds = _dataset(corpus)
    rel = {str(e.path): e.rel for e in ds.index}
    good_idx = {i for i, e in enumerate(ds.index) if e.rel in corpus["good"]}
    loader = make_pretrain_loader(ds, batch_size=5, seed=0, workers=workers, max_fail_frac=None)
    seen = []
    with caplog.at_level(logging.INFO, logger="hdc_video.data"):
        for batch in loader:
            assert batch["video"].shape == (5, 4, 3, 4, 16, 16)  # batches stay full
            assert torch.isfinite(batch["video"]).all()
            seen += batch["index"].tolist()
    assert len(seen) == len(ds)
    assert good_idx <= set(seen)  # no good file is dropped
    assert not set(seen) - good_idx  # every sample came from a good file
    failed = {rel[p]: r for p, r in loader.skips.failed.items()}
    assert set(failed) == set(corpus["bad"])
    for name, fragment in corpus["bad"].items():
        assert re.search(fragment, failed[name]), (name, failed[name])
    msgs = [r.getMessage() for r in caplog.records if r.name == "hdc_video.data"]
    summary = [m for m in msgs if m.startswith("epoch 0: skipped")]
    assert len(summary) == 1  # one summary line per epoch, in the main process
    for name in corpus["bad"]:
        assert name in summary[0]
    if workers == 0:  # the per-file lines of worker processes go to their own stderr
        for name in corpus["bad"]:
            lines = [m for m in msgs if m.startswith("skipping") and m.split(":")[0].endswith(name)]
            assert len(lines) == 1, (name, lines)


def test_flood_of_failures_aborts(corpus):
    ds = _dataset(corpus)
    loader = make_pretrain_loader(ds, batch_size=5, seed=0, workers=0)  # default: 5 %
    with pytest.raises(DataError, match=r"\d+ of 20 videos failed \(\d+\.\d%.*check the path/codec"):
        for _ in loader:
            pass


def test_skip_tracker_threshold_and_summary():
    t = SkipTracker(total=100, max_fail_frac=0.05, root="/data")
    t.update({"skipped": ["/data/a.avi\tempty file", "", "/data/b.avi\tempty file\n/data/c.avi\tfile not found"]})
    t.update({"skipped": ["/data/a.avi\tempty file"]})
    line = t.end_epoch(3)
    assert line.startswith("epoch 3: skipped 4 samples from 3 bad videos (3.0% of 100)")
    assert "empty file x2 [a.avi, b.avi]" in line and "file not found x1 [c.avi]" in line
    assert t.end_epoch(4) is None and len(t.failed) == 3
    with pytest.raises(
        DataError,
        match=r"6 of 100 videos failed \(6\.0%.*check the path/codec.*"
        r"most common: truncated x3",
    ):
        t.update({"skipped": [f"/data/v{k}.avi\ttruncated: frame {k} requested" for k in range(3)]})


def test_known_bad_list_skipped_up_front(corpus, tmp_path, caplog):
    ds_all = _dataset(corpus)
    bad_list = tmp_path / "bad.txt"
    bad_list.write_text("# hdc verify\nc0/empty.avi  # empty file\nc0/missing.avi  # file not found\n")
    with caplog.at_level(logging.INFO, logger="hdc_video.data"):
        ds = _dataset(corpus, known_bad=bad_list)
    assert len(ds) == len(ds_all) - 2
    assert any("skipping 2 known-bad videos" in r.getMessage() for r in caplog.records)
    assert {"c0/empty.avi", "c0/missing.avi"}.isdisjoint(e.rel for e in ds.index)


class _IndexDecoder:
    """Frames whose every pixel is the frame index: shows which indices a sample used."""

    def __init__(self, n):
        self.n = n

    def info(self, path):
        return VideoInfo(self.n, 25.0, 1, 1)

    def decode(self, path, indices):
        return torch.as_tensor(np.asarray(indices), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 1, 3)


def _views(crops, generator, source):
    """An 'augmentation' that returns each view's raw frames (the augment protocol of PretrainDataset)."""
    return crops[list(source)]


@pytest.mark.parametrize(
    "n, mode, expect",
    [
        (4, "loop", [[0, 2, 0, 2], [1, 3, 1, 3]]),  # the sampler's rule: indices wrap
        (4, "pad", [[0, 2, 3, 3], [1, 3, 3, 3]]),  # clamp: the last frame repeats
        (20, "pad", None),  # long enough: pad changes nothing
    ],
)
def test_short_video_loop_or_pad(n, mode, expect):
    index = VideoIndex([VideoEntry(Path("/x/v.avi"), 0, "v.avi")], ["c"], Path("/x"))
    ds = PretrainDataset(index, _IndexDecoder(n), TwoCropSampler(4, 2), _views, short_video=mode)
    out = ds[(0, 5)]["video"][..., 0, 0, 0]  # [V, T] frame indices
    got = sorted([out[0].tolist(), out[2].tolist()])
    if expect is not None:
        assert got == expect
    else:
        ref = PretrainDataset(index, _IndexDecoder(n), TwoCropSampler(4, 2), _views)[(0, 5)]
        assert torch.equal(ref["video"], ds[(0, 5)]["video"])
    with pytest.raises(ValueError, match="short_video"):
        PretrainDataset(index, _IndexDecoder(n), TwoCropSampler(4, 2), _views, short_video="stretch")


def test_unreadable_permissions(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("running as root: chmod 000 does not stop reads (the is-a-directory case stands in)")
    p = write_video(tmp_path / "locked.avi", numbered(10))
    p.chmod(0)
    from hdc_video.data.decoders import PyAVDecoder
    from hdc_video.data.errors import DecodeError

    with pytest.raises(DecodeError, match="locked.avi"):
        PyAVDecoder().info(p)


@pytest.mark.slow
def test_pretraining_over_the_hostile_corpus_completes(corpus, tmp_path, caplog):
    """`hdc pretrain` itself (not just the loader) trains through every kind of broken file."""
    from conftest import TINY

    from hdc_video.train.pretrain import pretrain

    with caplog.at_level(logging.WARNING, logger="hdc_video"):
        summary = pretrain(
            corpus["root"],
            tmp_path / "run",
            progress=False,
            overrides=TINY + ["train.steps=6", "train.batch_size=4", "data.max_fail_frac=0.5", "train.ckpt_every=3"],
        )
    assert summary["steps"] == 6 and summary["last_loss"] is not None
    named = {Path(p).relative_to(corpus["root"]).as_posix() for p in summary["skipped_videos"]}
    assert named <= set(corpus["bad"]) and named, named  # only bad files skipped, and some were hit
    assert any("skipped" in r.getMessage() for r in caplog.records)
