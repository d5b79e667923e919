"""The known-bad list is read once: ``open_index`` applies it and records it on the index, so
``PretrainDataset`` does not apply it again; a hand-built index still gets it from the dataset."""

from __future__ import annotations

import logging

import pytest

from hdc_video.data.decoders import make_decoder
from hdc_video.data.indexes import VideoIndex, badlist, drop_known_bad, open_index
from hdc_video.data.loading.pretrain import PretrainDataset
from hdc_video.data.sampling.clips import TwoCropSampler
from hdc_video.data.transforms.augment import ClipAugment


@pytest.fixture()
def root(tmp_path):
    for cls in ("a", "b"):
        for k in range(3):
            (tmp_path / cls).mkdir(exist_ok=True)
            (tmp_path / cls / f"v{k}.avi").write_bytes(b"x")  # listed, never decoded here
    (tmp_path / "bad_videos.txt").write_text("# hdc verify\na/v1.avi  # empty file\n")
    return tmp_path


@pytest.fixture()
def reads(monkeypatch):
    calls = []
    real = badlist.read_bad_list

    def counting(path, root=None):
        calls.append(str(path))
        return real(path, root)

    monkeypatch.setattr(badlist, "read_bad_list", counting)
    return calls


def _dataset(index, **kw):
    return PretrainDataset(index, make_decoder("pyav"), TwoCropSampler(4), ClipAugment(16), **kw)


def test_open_index_then_dataset_reads_the_list_once(root, reads, caplog):
    with caplog.at_level(logging.INFO, logger="hdc_video.data"):
        index = open_index(root)
        ds = _dataset(index)
    assert len(index) == 5 and index.known_bad == 1 and index.bad_list == str(root / "bad_videos.txt")
    assert ds.index is index and len(ds) == 5 and len(reads) == 1
    assert sum("skipping 1 known-bad videos" in r.getMessage() for r in caplog.records) == 1
    assert drop_known_bad(index) is index and len(reads) == 1
    sub = index.subset(range(3))
    assert sub.bad_list == index.bad_list and drop_known_bad(sub) is sub


def test_hand_built_or_unfiltered_index_gets_the_list_from_the_dataset(root, reads):
    full = open_index(root, bad_list=None)
    assert len(full) == 6 and full.bad_list is None and not reads
    assert len(_dataset(full)) == 5 and len(reads) == 1
    hand = VideoIndex(list(full.entries), list(full.classes), root)
    ds = _dataset(hand)
    assert len(ds) == 5 and ds.index.bad_list == str(root / "bad_videos.txt") and len(reads) == 2
    assert len(_dataset(hand, known_bad=None)) == 6


def test_another_list_is_still_applied(root, reads, tmp_path_factory):
    other = tmp_path_factory.mktemp("lists") / "more_bad.txt"
    other.write_text(f"{root / 'b' / 'v2.avi'}  # truncated\n")
    ds = _dataset(open_index(root), known_bad=other)
    assert len(ds) == 4 and ds.index.known_bad == 2 and ds.index.bad_list == str(other) and len(reads) == 2
