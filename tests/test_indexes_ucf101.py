"""UCF101-layout index reading: official formats, odd line endings, escaping paths, label CSVs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hdc_video.data.errors import DataError, DecodeError
from hdc_video.data.indexes import (
    VideoEntry,
    VideoIndex,
    missing,
    read_class_ind,
    read_labels_csv,
    read_ucf101,
    relabel,
)

CLASSES = ["ApplyEyeMakeup", "ApplyLipstick", "Archery"]


def _write(path: Path, lines: list[str], eol: str = "\n") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(eol.join(lines).encode() + eol.encode())


def _vid(cls: str, g: int, c: int = 1) -> str:
    return f"{cls}/v_{cls}_g{g:02d}_c{c:02d}.avi"


def make_tree(
    root: Path, videos: str = "videos", splits: str = "splits", eol: str = "\r\n", touch: bool = True
) -> Path:
    """A small official-format tree: splits 1..3, test groups {1,2} / {3,4} / {5,6}, 7 groups."""
    _write(root / splits / "classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(CLASSES)], eol)
    for s, test_groups in ((1, {1, 2}), (2, {3, 4}), (3, {5, 6})):
        train, test = [], []
        for ci, cls in enumerate(CLASSES):
            for g in range(1, 8):
                if g in test_groups:
                    test.append(_vid(cls, g))
                else:
                    train.append(f"{_vid(cls, g)} {ci + 1}")
        # blank lines, trailing spaces, CRLF: all seen in the wild
        _write(root / splits / f"trainlist0{s}.txt", train[:3] + ["", "   "] + [t + "  " for t in train[3:]], eol)
        _write(root / splits / f"testlist0{s}.txt", test + [""], eol)
    if touch:
        for cls in CLASSES:
            for g in range(1, 8):
                p = root / videos / _vid(cls, g)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(b"")
    return root


def test_errors_module():
    e = DecodeError("/x/v.avi", "no video stream")
    assert e.path == "/x/v.avi" and e.reason == "no video stream"
    assert str(e) == "/x/v.avi: no video stream"
    assert isinstance(e, RuntimeError) and issubclass(DataError, ValueError)
    import pickle

    e2 = pickle.loads(pickle.dumps(e))
    assert (e2.path, e2.reason, str(e2)) == (e.path, e.reason, str(e))


@pytest.mark.parametrize("split, test_groups", [(1, {1, 2}), (2, {3, 4}), (3, {5, 6})])
def test_read_official_format_splits(tmp_path, split, test_groups):
    root = make_tree(tmp_path)
    train = read_ucf101(root, split=split, subset="train")
    test = read_ucf101(root, split=split, subset="test")
    assert train.classes == CLASSES and test.classes == CLASSES
    assert len(train) == 3 * 5 and len(test) == 3 * 2
    assert isinstance(train[0], VideoEntry)
    assert train[0].rel == _vid("ApplyEyeMakeup", min({1, 2, 3, 4, 5, 6, 7} - test_groups))
    assert train[0].path == (root / "videos" / train[0].rel).absolute()
    assert train[0].path.is_file()
    np.testing.assert_array_equal(test.labels, [0, 0, 1, 1, 2, 2])
    assert train.labels.dtype == np.int64 and sorted(set(train.labels.tolist())) == [0, 1, 2]
    for e in train.entries + test.entries:  # labels agree with the class folder
        assert CLASSES[e.label] == e.rel.split("/")[0]
        assert " " not in e.rel and "\r" not in e.rel
    groups = lambda idx: {e.rel.split("_g")[1][:2] for e in idx}  # noqa: E731
    assert groups(test) == {f"{g:02d}" for g in test_groups}
    assert not groups(train) & groups(test)
    assert missing(train) == []


def test_official_folder_names_and_overrides(tmp_path):
    root = make_tree(tmp_path, videos="UCF-101", splits="ucfTrainTestlist", eol="\n")
    idx = read_ucf101(root, split=1, subset="test")
    assert idx[0].path == (root / "UCF-101" / _vid("ApplyEyeMakeup", 1)).absolute()
    assert idx.root == root.absolute()
    # explicit folders, relative to root and absolute
    other = make_tree(tmp_path / "elsewhere", videos="vids", splits="lists")
    a = read_ucf101(other, subset="train", videos_dir="vids", splits_dir="lists")
    b = read_ucf101(other, subset="train", videos_dir=other / "vids", splits_dir=other / "lists")
    assert [e.path for e in a] == [e.path for e in b] and len(a) == 15
    assert a[0].path.parent.parent == (other / "vids").absolute()


def test_missing_files_are_listed_not_fatal(tmp_path):
    root = make_tree(tmp_path, touch=False)
    (root / "videos" / "Archery").mkdir(parents=True)
    keep = root / "videos" / _vid("Archery", 3)
    keep.write_bytes(b"")
    idx = read_ucf101(root)
    gone = missing(idx)
    assert len(idx) == 15 and len(gone) == 14
    assert keep.absolute() not in {e.path for e in gone}


def _one_bad_line(tmp_path: Path, bad: str, subset: str = "train") -> Path:
    root = make_tree(tmp_path, eol="\r\n")
    f = root / "splits" / f"{subset}list01.txt"
    lines = f.read_bytes().decode().split("\r\n")
    lines.insert(2, bad)  # -> line 3 of the file
    f.write_bytes("\r\n".join(lines).encode())
    return root


@pytest.mark.parametrize(
    "subset, bad, message",
    [
        ("test", "../../etc/passwd", "outside"),
        ("test", "ApplyEyeMakeup/../../../etc/passwd", "outside"),
        ("train", "/etc/passwd 1", "outside"),
        ("train", "..\\..\\secret.avi 1", "outside"),
        ("test", "Bowling/v_Bowling_g01_c01.avi", "unknown class 'Bowling'"),
        ("train", "Bowling/v_Bowling_g01_c01.avi 2", "unknown class 'Bowling'"),
        ("train", "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi 7", "out of range"),
        ("train", "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi x", "not an integer"),
        ("train", "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi 1 2", "expected"),
        ("train", "ApplyEyeMakeup/v_ApplyEyeMakeup_g09_c01.avi 3", "contradicts"),
        ("test", "loose_file.avi", "no label"),
    ],
)
def test_bad_split_lines_name_file_and_line(tmp_path, subset, bad, message):
    root = _one_bad_line(tmp_path, bad, subset)
    with pytest.raises(DataError) as info:
        read_ucf101(root, subset=subset)
    text = str(info.value)
    assert f"{subset}list01.txt:3:" in text and message in text


def test_inside_paths_with_dots_are_fine(tmp_path):
    root = _one_bad_line(tmp_path, "Archery/./sub/../v_Archery_g09_c01.avi", "test")
    idx = read_ucf101(root, subset="test")
    e = [e for e in idx if "g09" in e.rel][0]
    assert e.path == (root / "videos" / "Archery" / "v_Archery_g09_c01.avi").absolute()
    assert e.rel == "Archery/./sub/../v_Archery_g09_c01.avi" and e.label == 2


def test_class_ind_and_split_file_errors(tmp_path):
    root = make_tree(tmp_path)
    with pytest.raises(DataError, match="trainlist04.txt: split file not found"):
        read_ucf101(root, split=4)
    with pytest.raises(DataError, match="subset"):
        read_ucf101(root, subset="val")
    ci = root / "splits" / "classInd.txt"
    _write(ci, ["1 A", "3 B"])
    with pytest.raises(DataError, match="without gaps"):
        read_class_ind(ci)
    _write(ci, ["1 A", "", "2 A"])
    with pytest.raises(DataError, match=r"classInd.txt:3: duplicate class name"):
        read_class_ind(ci)
    _write(ci, ["one A"])
    with pytest.raises(DataError, match=r"classInd.txt:1: expected"):
        read_class_ind(ci)
    with pytest.raises(DataError, match="no split folder"):
        read_ucf101(tmp_path / "videos")
    _write(root / "splits" / "classInd.txt", [f"{i + 1} {c}" for i, c in enumerate(CLASSES)])
    _write(root / "splits" / "testlist01.txt", ["", "  "])
    with pytest.raises(DataError, match="no videos listed"):
        read_ucf101(root, subset="test")


def test_labels_csv_and_relabel(tmp_path):
    root = make_tree(tmp_path)
    train, test = read_ucf101(root, subset="train"), read_ucf101(root, subset="test")
    rows = ["path,appearance,motion"]
    for e in train.entries + test.entries:
        cls = e.rel.split("/")[0]
        rows.append(f"{e.rel},{'eye' if 'Eye' in cls else 'other'},{'still' if 'Make' in cls else 'move'}")
    csv_path = tmp_path / "attributes.csv"
    _write(csv_path, rows, "\r\n")
    motion = read_labels_csv(csv_path, "motion")
    assert len(motion) == 21 and motion[_vid("Archery", 1)] == "move"
    with pytest.raises(DataError) as info:
        read_labels_csv(csv_path, "colour")
    assert "path, appearance, motion" in str(info.value)
    with pytest.raises(DataError, match="key column 'file'"):
        read_labels_csv(csv_path, "motion", key="file")

    tr, te = relabel(train, motion), relabel(test, motion)
    assert tr.classes == te.classes == ["move", "still"]
    assert isinstance(tr, VideoIndex) and len(tr) == len(train)
    for e_old, e_new in zip(train, tr):
        assert e_new.path == e_old.path and e_new.rel == e_old.rel
        assert e_new.label == (1 if "Make" in e_old.rel else 0)
    app = relabel(test, read_labels_csv(csv_path, "appearance"))
    np.testing.assert_array_equal(app.labels, [0, 0, 1, 1, 1, 1])
    # the test classes come from the whole column, even if the index lacks a category
    only_archery = test.subset([4, 5])
    assert relabel(only_archery, motion).classes == ["move", "still"]

    partial = {k: v for k, v in motion.items() if "Archery" not in k}
    with pytest.raises(DataError, match=r"5 videos have no label.*Archery/v_Archery_g03_c01\.avi"):
        relabel(train, partial)
    _write(csv_path, rows + [f"{_vid('Archery', 1)},eye,still"])
    with pytest.raises(DataError, match="listed twice"):
        read_labels_csv(csv_path, "motion")
