"""``hdc verify`` on the hostile corpus and ``hdc prepare`` on a small UCF101-layout tree."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import av
import numpy as np
import pytest
from test_hostile import build_corpus, numbered, write_custom

from hdc_video.cli import main
from hdc_video.data.decoders import PyAVDecoder, decode_all
from hdc_video.data.indexes import open_index, read_bad_list, read_ucf101
from hdc_video.data.loading.pretrain import PretrainDataset
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import ClipAugment
from hdc_video.data.video_io import write_video
from hdc_video.workflows.prepare import prepare, target_size
from hdc_video.workflows.verify import verify


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("hostile_v"))


@pytest.mark.slow
def test_verify_names_every_bad_file(corpus, capsys):
    root = corpus["root"]
    assert main(["verify", str(root), "--workers", "2", "--no-progress"]) == 0
    out = capsys.readouterr().out
    bad = read_bad_list(root / "bad_videos.txt")
    rel = {str(Path(p).relative_to(root)): r for p, r in bad.items()}
    assert set(rel) == set(corpus["bad"])  # every bad file, no good one
    for name, fragment in corpus["bad"].items():
        assert re.search(fragment, rel[name]), (name, rel[name])
        assert name in out
    text = (root / "bad_videos.txt").read_text()
    assert text.startswith("# hdc verify: 8 of 20 videos failed")
    rows = {r["path"]: r for r in csv.DictReader((root / "verify.csv").open())}
    assert len(rows) == 20
    for name, n in corpus["good"].items():
        r = rows[name]
        assert r["status"] == "ok" and int(r["frames"]) == n, r
    assert (rows["c1/rotated.mp4"]["width"], rows["c1/rotated.mp4"]["height"], rows["c1/rotated.mp4"]["rotation"]) == (
        "32",
        "48",
        "90",
    )
    assert (rows["c1/hd1080.mp4"]["width"], rows["c1/hd1080.mp4"]["height"]) == ("1920", "1080")
    assert rows["c0/jpeg_video"]["codec"] == "jpeg" and rows["c0/gray_odd.mkv"]["codec"] == "ffv1"
    assert re.search(r"ok\s+12\n\s+bad\s+8", out) and "size" in out and "codec" in out
    # the loaders now skip the known-bad videos up front
    assert len(open_index(root)) == 12
    ds = PretrainDataset(open_index(root, bad_list=None), PyAVDecoder(), TwoCropSampler(4, 2), ClipAugment(16))
    assert len(ds) == 12
    (root / "bad_videos.txt").unlink()


def test_verify_out_dir_and_full(corpus, tmp_path):
    s = verify(corpus["root"], workers=1, out=tmp_path, full=True, progress=False)
    assert s["videos"] == 20 and s["bad"] == 8
    assert (tmp_path / "bad_videos.txt").is_file() and not (corpus["root"] / "bad_videos.txt").exists()


def test_verify_cli_errors(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "absent"), "--no-progress"]) == 1
    assert "dataset root not found" in capsys.readouterr().err
    assert main(["verify", str(tmp_path), "--decoder", "nope"]) == 1
    assert "unknown decoder" in capsys.readouterr().err


def test_prepare_keeps_layout_frames_and_splits(tmp_path, capsys):
    src = tmp_path / "src"
    (src / "splits").mkdir(parents=True)
    (src / "splits" / "classInd.txt").write_text("1 A\n2 B\n")
    (src / "splits" / "trainlist01.txt").write_text("A/a.avi 1\nB/b.mp4 2\nB/rot.mp4 2\n")
    (src / "splits" / "testlist01.txt").write_text("A/broken.avi\n")
    write_video(src / "videos" / "A" / "a.avi", numbered(30, 96, 160), quality=2)
    write_video(src / "videos" / "B" / "b.mp4", numbered(20, 64, 96), quality=2)
    write_custom(src / "videos" / "B" / "rot.mp4", numbered(12, 96, 128), rotation=90)
    (src / "videos" / "A" / "broken.avi").write_text("not a video")
    dst = tmp_path / "dst"
    assert main(["prepare", str(src), str(dst), "--short-side", "32", "--gop", "4", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "3 videos re-encoded" in out and "1 failed" in out and "broken.avi" in out
    assert (dst / "splits" / "trainlist01.txt").read_text() == (src / "splits" / "trainlist01.txt").read_text()
    assert [e.rel for e in read_ucf101(dst)] == [e.rel for e in read_ucf101(src)]
    dec = PyAVDecoder()
    for rel, size in (("A/a.avi", (32, 54)), ("B/b.mp4", (32, 48)), ("B/rot.mp4", (42, 32))):
        a, b = dec.info(src / "videos" / rel), dec.info(dst / "videos" / rel)
        assert b.num_frames == a.num_frames and (b.height, b.width) == size and b.rotation == 0
        with av.open(str(dst / "videos" / rel)) as c:
            keys = [k for k, p in enumerate(c.demux(c.streams.video[0])) if p.is_keyframe]
        assert keys[0] == 0 and max(np.diff(keys + [a.num_frames])) <= 4, keys
    # the same frames, smaller (frame numbers survive the resize)
    small = decode_all(dst / "videos" / "A" / "a.avi").float().mean(dim=(1, 2, 3))
    big = decode_all(src / "videos" / "A" / "a.avi").float().mean(dim=(1, 2, 3))
    assert (small - big).abs().max() < 4
    assert (dst / "videos" / "A" / "broken.avi").read_text() == "not a video"  # copied unchanged
    # re-running continues (everything is there already)
    s = prepare(src, dst, short_side=32, gop=4, workers=1, progress=False)
    assert s["kept"] == 7 and s["encoded"] == 0
    assert target_size(240, 320, 128) == (128, 170) and target_size(100, 50, 128) == (100, 50)


def test_prepare_help_says_when_it_pays_off(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    assert "When it pays off" in capsys.readouterr().out
