"""open_index over small trees written exactly in the official formats: HMDB51, Kinetics CSVs,
a folder per class (+ split file), a plain path,label CSV, UCF101; auto-detection; bad_videos.txt."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from test_indexes_ucf101 import make_tree as make_ucf_tree

from hdc_video.data.errors import DataError
from hdc_video.data.indexes import VideoIndex, detect_formats, open_index, read_bad_list

HMDB = {  # class -> files; tags per split come from _tag
    "brush_hair": [
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
        "Aussie_Brush_Your_Teeth_Song!_brush_hair_u_cm_np1_ba_goo_0.avi",
        "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi",
        "brushing_hair_2_brush_hair_h_nm_np2_le_goo_1.avi",
    ],
    "clap": [
        "#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi",
        "#20_Rhythm_clap_u_nm_np1_fr_goo_1.avi",
        "Applauding_clap_u_cm_np1_fr_med_0.avi",
        "Clapping_clap_f_nm_np1_fr_goo_2.avi",
    ],
    "fall_floor": [
        "Falling_fall_floor_f_cm_np1_ba_bad_0.avi",
        "Falling_fall_floor_f_cm_np1_fr_bad_1.avi",
        "Faceplant_fall_floor_f_cm_np1_ba_med_0.avi",
        "Stunts_fall_floor_f_cm_np1_le_med_2.avi",
    ],
}


def _tag(split: int, k: int) -> str:
    return "120"[(k + split) % 3] if k < 3 else "1"  # each split: 2 train, 1 test, 1 unused per class


def make_hmdb(root: Path, videos: str = "hmdb51_org", splits: str = "testTrainMulti_7030_splits") -> Path:
    for cls, files in HMDB.items():
        for s in (1, 2, 3):
            lines = [f"{f} {_tag(s, k)} " for k, f in enumerate(files)]  # the official trailing space
            p = root / splits / f"{cls}_test_split{s}.txt"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text("\n".join(lines) + "\n")
        for f in files:
            (root / videos / cls).mkdir(parents=True, exist_ok=True)
            (root / videos / cls / f).write_bytes(b"")
    return root


@pytest.mark.parametrize(
    "videos, splits", [("hmdb51_org", "testTrainMulti_7030_splits"), ("videos", "splits"), (".", "annotations")]
)
def test_hmdb51(tmp_path, videos, splits):
    root = make_hmdb(tmp_path, videos, splits)
    assert detect_formats(root) == ["hmdb51"]
    for s in (1, 2, 3):
        train = open_index(root, split=s, subset="train")
        test = open_index(root, format="hmdb51", split=s, subset="test")
        assert train.classes == test.classes == ["brush_hair", "clap", "fall_floor"]
        assert len(train) == 3 * 2 and len(test) == 3 * 1
        want_train = {f"{c}/{f}" for c, fs in HMDB.items() for k, f in enumerate(fs) if _tag(s, k) == "1"}
        assert {e.rel for e in train} == want_train
        assert not {e.rel for e in train} & {e.rel for e in test}
        for e in train.entries + test.entries:
            assert e.path == (root / videos / e.rel).absolute() and e.path.is_file()
            assert train.classes[e.label] == e.rel.split("/")[0]
    assert "#20_Rhythm_clap_u_nm_np1_fr_goo_0.avi" in {
        Path(e.rel).name for s in (1, 2, 3) for e in open_index(root, split=s)
    }


@pytest.mark.parametrize(
    "line, message",
    [
        ("../../etc/passwd 1", "outside"),
        ("x.avi 3", "expected '<file> <0|1|2>'"),
        ("/etc/passwd 2", "outside"),
        ("only_a_name.avi", "expected"),
    ],
)
def test_hmdb51_bad_lines_name_file_and_line(tmp_path, line, message):
    root = make_hmdb(tmp_path)
    f = root / "testTrainMulti_7030_splits" / "clap_test_split1.txt"
    lines = f.read_text().splitlines()
    f.write_text("\n".join(lines[:1] + [line] + lines[1:]) + "\n")
    with pytest.raises(DataError, match=rf"clap_test_split1\.txt:2: .*{message}"):
        open_index(root, split=1, subset="train")
    with pytest.raises(DataError, match="splits found: 1, 2, 3"):
        open_index(root, split=4)


K_HEADER = "label,youtube_id,time_start,time_end,split,is_cc"
K_TRAIN = [
    ("abseiling", "-0EuZ_ABC12", 10, 20),
    ("air drumming", "zz_9-yQ4bXk", 0, 10),
    ("playing guitar", "PgTr8yy01aB", 123, 133),
    ("abseiling", "AbS2222xyz_", 4, 14),
]
K_VAL = [("air drumming", "vAl0000001a", 30, 40), ("playing guitar", "vAl0000002b", 5, 15)]


def make_kinetics(root: Path, layout: str, missing: int = 0) -> Path:
    (root / "annotations").mkdir(parents=True)
    for name, split, rows in (("train", "train", K_TRAIN), ("validate", "val", K_VAL)):
        text = [K_HEADER] + [
            f'"{lab}",{yid},{s},{e},{split},0' if " " in lab else f"{lab},{yid},{s},{e},{split},0"
            for lab, yid, s, e in rows
        ]
        (root / "annotations" / f"{name}.csv").write_text("\n".join(text) + "\n")
        for k, (lab, yid, s, e) in enumerate(rows):
            if split == "train" and k < missing:
                continue
            name_ = f"{yid}_{s:06d}_{e:06d}.mp4"
            d = {
                "nested": root / split / lab,
                "flat": root / split,
                "underscored": root / f"videos_{split}" / lab.replace(" ", "_"),
            }[layout]
            d.mkdir(parents=True, exist_ok=True)
            (d / name_).write_bytes(b"")
    return root


@pytest.mark.parametrize("layout", ["nested", "flat", "underscored"])
def test_kinetics(tmp_path, layout):
    root = make_kinetics(tmp_path, layout)
    assert detect_formats(root) == ["kinetics"]
    train = open_index(root, subset="train")
    val = open_index(root, format="kinetics", subset="test")  # the evaluation split = validate
    assert train.classes == val.classes == ["abseiling", "air drumming", "playing guitar"]
    assert len(train) == 4 and len(val) == 2
    e = train[0]
    assert e.path.name == "-0EuZ_ABC12_000010_000020.mp4" and e.path.is_file() and e.label == 0
    assert e.meta["youtube_id"] == "-0EuZ_ABC12" and e.meta["split"] == "train"
    assert [x.label for x in val] == [1, 2] and all(x.path.is_file() for x in val)
    assert open_index(root, subset="val").entries == val.entries


def test_kinetics_missing_files_one_warning(tmp_path, caplog):
    root = make_kinetics(tmp_path, "nested", missing=2)
    with caplog.at_level(logging.WARNING, logger="hdc_video.data"):
        idx = open_index(root)
    assert len(idx) == 2
    lines = [r.getMessage() for r in caplog.records if "kinetics" in r.getMessage()]
    assert len(lines) == 1 and "2 of 4 videos listed in train.csv not found" in lines[0] and "dropped" in lines[0]
    kept = open_index(root, keep_missing=True)
    assert len(kept) == 4 and sum(not e.path.exists() for e in kept) == 2


def make_folder(root: Path) -> Path:
    for cls in ("cat", "dog"):
        for k in (1, 2, 10):
            (root / cls).mkdir(parents=True, exist_ok=True)
            (root / cls / f"{cls}{k}.mp4").write_bytes(b"")
    (root / "dog" / ".hidden.tmp.mp4").write_bytes(b"")
    (root / "dog" / "notes.txt").write_text("not a video")
    (root / "dog" / "frames_vid").mkdir()
    (root / "dog" / "frames_vid" / "img_00001.jpg").write_bytes(b"")
    (root / "empty_class").mkdir()
    return root


def test_folder_all_train_and_split_file(tmp_path):
    root = make_folder(tmp_path)
    assert detect_formats(root) == ["folder"]
    idx = open_index(root)
    assert idx.classes == ["cat", "dog"]
    assert [e.rel for e in idx] == [
        "cat/cat1.mp4",
        "cat/cat2.mp4",
        "cat/cat10.mp4",
        "dog/dog1.mp4",
        "dog/dog2.mp4",
        "dog/dog10.mp4",
        "dog/frames_vid",
    ]
    with pytest.raises(DataError, match="no split file"):
        open_index(root, subset="test")
    (root / "split_1.txt").write_text(
        "# my split\ncat/cat1.mp4 train\ncat/cat2.mp4 test\ndog/dog1.mp4 1\n"
        "dog/dog2.mp4 2  # comment\ndog/dog10.mp4 0\n"
    )
    tr = open_index(root, split_file="split_{split}.txt")  # auto -> folder when a split file is given
    te = open_index(root, format="folder", split=1, subset="test", split_file="split_1.txt")
    assert [e.rel for e in tr] == ["cat/cat1.mp4", "dog/dog1.mp4"] and [e.label for e in te] == [0, 1]
    (root / "split_1.txt").write_text("cat/cat1.mp4 train\n../../etc/passwd train\n")
    with pytest.raises(DataError, match=r"split_1\.txt:2: .*outside"):
        open_index(root, split_file="split_1.txt")
    (root / "split_1.txt").write_text("cat/cat1.mp4 maybe\n")
    with pytest.raises(DataError, match=r"split_1\.txt:1: expected"):
        open_index(root, split_file="split_1.txt")


def test_plain_csv(tmp_path):
    root = tmp_path
    (root / "clips").mkdir()
    (root / "train.csv").write_text(
        f"path,label,source\nclips/a.mp4,walk,cam1\nclips/b.mp4,run,cam2\n{root}/clips/c.mp4,walk,cam3\n"
    )
    (root / "test.csv").write_text("path,label\nclips/d.mp4,jump\n")
    assert detect_formats(root) == ["csv"]
    tr, te = open_index(root), open_index(root, subset="test")
    assert tr.classes == te.classes == ["jump", "run", "walk"]
    assert [e.label for e in tr] == [2, 1, 2] and tr[0].meta == {"source": "cam1"}
    assert tr[2].path == root / "clips" / "c.mp4" and tr[0].path == root / "clips" / "a.mp4"
    for bad, message in [("../outside.mp4", "outside"), ("/etc/passwd", "outside the dataset root")]:
        (root / "train.csv").write_text(f"path,label\nclips/a.mp4,walk\n{bad},walk\n")
        with pytest.raises(DataError, match=rf"train\.csv:3: .*{message}"):
            open_index(root)
    # one CSV with a split column, numeric labels sorted numerically
    one = tmp_path / "one"
    one.mkdir()
    (one / "index.csv").write_text("path,label,split\na.mp4,10,train\nb.mp4,9,test\nc.mp4,2,train\n")
    idx = open_index(one, format="csv")
    assert idx.classes == ["2", "9", "10"] and [e.label for e in idx] == [2, 0]
    assert [e.rel for e in open_index(one / "index.csv", subset="test")] == ["b.mp4"]


def test_auto_detection_errors_and_ucf101(tmp_path):
    ucf = make_ucf_tree(tmp_path / "ucf")
    assert detect_formats(ucf) == ["ucf101"]
    idx = open_index(ucf, split=2, subset="test")
    assert isinstance(idx, VideoIndex) and len(idx) == 6
    (ucf / "train.csv").write_text("path,label\nvideos/x.avi,a\n")
    with pytest.raises(DataError, match="ambiguous dataset layout, it looks like ucf101 and csv"):
        open_index(ucf)
    assert len(open_index(ucf, format="ucf101")) == 15
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no dataset layout recognised"):
        open_index(tmp_path / "nothing")
    with pytest.raises(DataError, match="dataset root not found"):
        open_index(tmp_path / "absent")
    with pytest.raises(DataError, match="unknown index format 'imagenet'"):
        open_index(ucf, format="imagenet")
    with pytest.raises(DataError, match="takes no option split_file"):
        open_index(ucf, format="ucf101", split_file="x.txt")


def test_bad_videos_list_is_applied(tmp_path, caplog):
    root = make_hmdb(tmp_path)
    full = open_index(root)
    victim = full[1]
    (root / "bad_videos.txt").write_text(
        f"# hdc verify: 1 of 6 videos failed\nhmdb51_org/{victim.rel}  # empty file\nhmdb51_org/not/listed.avi  # x\n"
    )
    assert read_bad_list(root / "bad_videos.txt")[str(root / "hmdb51_org" / victim.rel)] == "empty file"
    with caplog.at_level(logging.INFO, logger="hdc_video.data"):
        idx = open_index(root)
    assert len(idx) == len(full) - 1 and victim.rel not in {e.rel for e in idx}
    assert any("skipping 1 known-bad videos" in r.getMessage() for r in caplog.records)
    assert len(open_index(root, bad_list=None)) == len(full)
