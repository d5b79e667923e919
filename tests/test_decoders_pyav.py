"""PyAVDecoder on real (small) video files whose frames encode their own frame number."""

from __future__ import annotations

import threading

import av
import numpy as np
import pytest
import torch

from hdc_video.data.decoders import PyAVDecoder, VideoInfo, decode_all
from hdc_video.data.errors import DecodeError
from hdc_video.data.video_io import write_video

H, W = 32, 48


def numbered_frames(n: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame t: left half grey 16*(t//16)+8, right half grey 16*(t%16)+8 (t < 256)."""
    t = np.arange(n)
    hi = (16 * (t // 16) + 8).astype(np.uint8)
    lo = (16 * (t % 16) + 8).astype(np.uint8)
    frames = np.empty((n, h, w, 3), np.uint8)
    frames[:, :, : w // 2] = hi[:, None, None, None]
    frames[:, :, w // 2 :] = lo[:, None, None, None]
    return frames


def frame_numbers(frames: torch.Tensor) -> list[int]:
    """Read back the frame numbers written by ``numbered_frames`` (centre of each half)."""
    f = frames.float()
    w = f.shape[2]
    hi = f[:, 4:-4, 4 : w // 2 - 4].mean(dim=(1, 2, 3))
    lo = f[:, 4:-4, w // 2 + 4 : -4].mean(dim=(1, 2, 3))
    hi_i = torch.round((hi - 8) / 16).long()
    lo_i = torch.round((lo - 8) / 16).long()
    return (16 * hi_i + lo_i).tolist()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("decode")
    short = write_video(d / "short.avi", numbered_frames(40), fps=25, quality=2)
    long = write_video(d / "long.avi", numbered_frames(230), quality=2, gop=25)
    long_mp4 = write_video(d / "long.mp4", numbered_frames(230), quality=2, gop=25)
    return {"short": short, "long": long, "long_mp4": long_mp4, "dir": d}


def test_frame_numbers_roundtrip():
    frames = torch.from_numpy(numbered_frames(256))
    assert frame_numbers(frames) == list(range(256))


def test_info(videos):
    dec = PyAVDecoder()
    info = dec.info(videos["short"])
    assert info == VideoInfo(num_frames=40, fps=25.0, height=H, width=W)
    assert dec.info(videos["long"]).num_frames == 230
    assert dec.info(videos["long_mp4"]).num_frames == 230


def test_info_counts_packets_when_metadata_missing(videos, tmp_path):
    # a raw elementary stream has no frame count in its header -> demux count
    path = tmp_path / "raw.m4v"
    with av.open(str(videos["short"])) as src, av.open(str(path), "w", format="m4v") as dst:
        out = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = out
            dst.mux(packet)
    with av.open(str(path)) as c:
        assert c.streams.video[0].frames == 0
    assert PyAVDecoder().info(path).num_frames == 40


def test_requested_order_unsorted_and_repeated(videos):
    dec = PyAVDecoder()
    idx = [7, 3, 3, 0, 39, 12, 7]
    out = dec.decode(videos["short"], idx)
    assert out.dtype == torch.uint8 and out.shape == (len(idx), H, W, 3)
    assert frame_numbers(out) == idx
    # pixel tolerance against the source
    src = torch.from_numpy(numbered_frames(40))[idx]
    assert (out.float() - src.float()).abs().mean() < 3


@pytest.mark.parametrize("name", ["long", "long_mp4"])
def test_seek_equals_no_seek(videos, name):
    path = videos[name]
    seeking = PyAVDecoder(seek_threshold=16)
    linear = PyAVDecoder(seek_threshold=10**9)
    for idx in ([200, 180, 229, 180], [70, 71, 100], list(range(120, 136, 2)), [26, 25, 24, 50]):
        a = seeking.decode(path, idx)
        b = linear.decode(path, idx)
        assert torch.equal(a, b), (name, idx)
        assert frame_numbers(a) == idx


def test_decode_all(videos):
    frames = decode_all(videos["short"])
    assert frames.shape == (40, H, W, 3)
    assert frame_numbers(frames) == list(range(40))


def test_indices_past_end_are_clamped(videos):
    # metadata over-counting by a few frames: clamp to the last real frame
    out = PyAVDecoder().decode(videos["short"], [38, 39, 45, 50])
    assert frame_numbers(out) == [38, 39, 39, 39]
    out = PyAVDecoder().decode(videos["short"], [44, 30])
    assert frame_numbers(out) == [39, 30]
    out = PyAVDecoder(seek_threshold=16, max_clamp=None).decode(videos["long"], [220, 300])
    assert frame_numbers(out) == [220, 229]
    # far past the end: treated as truncated
    with pytest.raises(DecodeError, match="truncated"):
        PyAVDecoder().decode(videos["short"], [10, 60])


def _expect_decode_error(path, *calls):
    dec = PyAVDecoder()
    for call in calls:
        with pytest.raises(DecodeError) as err:
            call(dec)
        assert str(path) in str(err.value)
        assert err.value.reason and "\n" not in err.value.reason


def test_errors_missing_text_empty(tmp_path):
    missing = tmp_path / "nope.avi"
    text = tmp_path / "text.avi"
    text.write_text("this is not a video\n" * 50)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    for path in (missing, text, empty):
        _expect_decode_error(
            path, lambda d, p=path: d.info(p), lambda d, p=path: d.decode(p, [0]), lambda d, p=path: decode_all(p)
        )


def test_error_no_video_stream(tmp_path):
    path = tmp_path / "audio.wav"
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    _expect_decode_error(path, lambda d: d.info(path), lambda d: d.decode(path, [0]))


def _with_timeout(fn, seconds=20):
    box = {}

    def target():
        try:
            box["out"] = fn()
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "decoder hung"
    return box


def test_truncated_video(videos, tmp_path):
    data = videos["long"].read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    dec = PyAVDecoder(seek_threshold=16)
    for call in (
        lambda: dec.info(cut),
        lambda: dec.decode(cut, [0, 5, 100, 229]),
        lambda: dec.decode(cut, [150, 229]),
        lambda: decode_all(cut),
    ):
        box = _with_timeout(call)
        if "exc" in box:
            assert isinstance(box["exc"], DecodeError), box["exc"]
            assert str(cut) in str(box["exc"])
        else:
            out = box["out"]
            assert isinstance(out, (torch.Tensor, VideoInfo))
    # the reachable prefix, when decoded, is right
    box = _with_timeout(lambda: dec.decode(cut, [0, 5, 10]))
    if "out" in box:
        assert frame_numbers(box["out"]) == [0, 5, 10]
    # a tiny head (header only / a few bytes) must fail cleanly
    head = tmp_path / "head.avi"
    head.write_bytes(data[:300])
    box = _with_timeout(lambda: dec.decode(head, [0, 1]))
    assert isinstance(box.get("exc"), DecodeError), box
