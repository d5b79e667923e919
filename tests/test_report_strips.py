"""``hdc report`` retrieval strips go through the dataset's own index and decoder: a dataset of JPEG
frame folders (CSV layout, not UCF101) gets real frames, not grey placeholders, from the folder
that ``hdc extract`` + ``hdc retrieve`` write; an unreadable index falls back with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_report import _check_png, _metrics_rows, _write_run

from hdc_video.cli import main
from hdc_video.data.decoders import make_decoder, write_frame_folder
from hdc_video.data.indexes import open_index
from hdc_video.report import load_eval_dir, write_report
from hdc_video.report.collect import Warnings
from hdc_video.report.strips import retrieval_strips

COLOURS = {"red": (220, 40, 40), "green": (40, 200, 60), "blue": (40, 60, 220)}


def _frames(colour, k: int, n: int = 8, size: int = 32) -> np.ndarray:
    """A bright square moving over a noisy background tinted ``colour``."""
    rng = np.random.default_rng(k)
    f = (rng.integers(0, 60, (n, size, size, 3)) + np.array(colour) // 2).astype(np.uint8)
    for t in range(n):
        x = (3 * t + 5 * k) % (size - 8)
        f[t, 8:16, x : x + 8] = 255
    return f


def make_frame_dataset(root: Path) -> Path:
    """``frames/<class>/<video>/img_00001.jpg ...`` + ``train.csv`` / ``test.csv`` (path,label)."""
    lines = {"train": ["path,label"], "test": ["path,label"]}
    for cls, colour in COLOURS.items():
        for k in range(4):
            rel = f"frames/{cls}/{cls}_{k}"
            write_frame_folder(_frames(colour, k), root / rel)
            lines["test" if k == 3 else "train"].append(f"{rel},{cls}")
    for subset, rows in lines.items():
        (root / f"{subset}.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def frame_retrieval(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("frames_retrieval")
    root = make_frame_dataset(tmp / "data")
    feats, out = tmp / "feats", tmp / "retrieve"
    assert (
        main(
            [
                "extract",
                "--random-init",
                "--backbone",
                "r3d_18",
                "--width",
                "0.125",
                "--clip-len",
                "4",
                "--stride",
                "1",
                "--size",
                "32",
                "--num-clips",
                "1",
                "--batch-size",
                "4",
                "--workers",
                "0",
                "--device",
                "cpu",
                "--no-progress",
                "--data",
                str(root),
                "--out",
                str(feats),
            ]
        )
        == 0
    )
    assert main(["retrieve", "--features", str(feats), "--out", str(out)]) == 0
    return root, out


@pytest.mark.slow
def test_frame_folder_strips_are_real_frames(frame_retrieval):
    root, out = frame_retrieval
    warn = Warnings()
    strips, shown_root = retrieval_strips(load_eval_dir(out, warn), warn)
    assert not warn and Path(shown_root) == root
    assert len(strips) == 3  # one query per class
    index = {e.rel: e for s in ("train", "test") for e in open_index(root, split=1, subset=s)}
    decoder = make_decoder("frames")
    queries = {q["label"]: q for q in json.loads((out / "neighbours.json").read_text())["queries"]}
    for s in strips:
        q = queries[s["label"]]
        assert q["path"] in index and all(n in index for n in q["neighbours"])  # rels as in train/test.csv
        first = decoder.decode(index[q["path"]].path, [0]).numpy()[0]
        assert all(f is not None and f.shape == (32, 32, 3) for f in s["frames"])
        assert np.abs(s["frames"][0].astype(int) - first).mean() < 1  # the folder's first frame
        assert s["frames"][0].std() > 20  # not the flat grey placeholder
        for nb, rel in zip(s["neighbours"], q["neighbours"]):
            assert nb["frame"] is not None and nb["frame"].std() > 20
            assert nb["label"] == rel.split("/")[1]  # the class from the index, not the path's first part
    index_html = write_report(_write_run(out.parent / "run", _metrics_rows(steps=4)), [out], out.parent / "page")
    page = index_html.read_text()
    assert "could not be decoded" not in page and "dataset index not readable" not in page
    (png,) = (out.parent / "page").glob("retrieval_*.png")
    _check_png(png)


def test_unreadable_index_falls_back_with_a_warning(tmp_path):
    root = tmp_path / "data"
    write_frame_folder(_frames(COLOURS["red"], 0), root / "videos" / "red" / "red_0")  # no split files
    (root / "videos" / "notes.txt").write_text("a file where a class folder should be")
    ev = tmp_path / "retrieve"
    ev.mkdir()
    (ev / "neighbours.json").write_text(
        json.dumps(
            {
                "data_root": str(root),
                "split": 1,
                "queries": [
                    {
                        "path": "red/red_0",
                        "label": "red",
                        "neighbours": ["red/red_0", "blue/missing"],
                        "correct": [True, False],
                    }
                ],
            }
        )
    )
    warn = Warnings()
    strips, _ = retrieval_strips(load_eval_dir(ev, warn), warn)
    assert any("dataset index not readable" in w for w in warn)
    assert any("could not be decoded" in w and "blue/missing" in w for w in warn)
    (s,) = strips
    assert all(f is not None for f in s["frames"])  # found under videos/ all the same
    assert s["neighbours"][0]["frame"] is not None and s["neighbours"][1]["frame"] is None
    assert [n["label"] for n in s["neighbours"]] == ["red", "blue"]
