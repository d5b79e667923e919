"""Every decoder (PyAV, JPEG frame folders, torchcodec when installed) returns the same frames.

Odd inputs: display-matrix rotation, grayscale, yuv444, odd sizes, variable frame rate (seeking
must land on the right frame), plus the decoder factory and the frame-folder decoder's errors.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from test_hostile import numbered, vfr_pts, write_custom

from hdc_video.data.decoders import (
    AutoDecoder,
    DecoderUnavailable,
    FrameFolderDecoder,
    available_decoders,
    make_decoder,
    write_frame_folder,
)
from hdc_video.data.decoders.auto import make_decoder as make_decoder_alias
from hdc_video.data.decoders.pyav import PyAVDecoder, decode_all
from hdc_video.data.errors import DataError, DecodeError
from hdc_video.data.video_io import write_video

HAVE_TORCHCODEC = "torchcodec" in available_decoders()


def frame_numbers(frames: torch.Tensor) -> list[int]:
    """Frame numbers written by ``numbered`` (read below the marker, in the two halves)."""
    f = frames.float()
    h, w = f.shape[1], f.shape[2]
    hi = f[:, h // 2 : -2, 2 : w // 2 - 2].mean(dim=(1, 2, 3))
    lo = f[:, h // 2 : -2, w // 2 + 2 : -2].mean(dim=(1, 2, 3))
    return (16 * torch.round((hi - 8) / 16).long() + torch.round((lo - 8) / 16).long()).tolist()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    d = tmp_path_factory.mktemp("decoders")
    v = {
        "avi": write_video(d / "plain.avi", numbered(40), quality=2),
        "mp4": write_video(d / "plain.mp4", numbered(40), quality=1),
        "gray_odd": write_video(d / "gray_odd.mkv", numbered(20, 33, 47), codec="ffv1", pix_fmt="gray"),
        "yuv444_odd": write_video(d / "yuv444_odd.mp4", numbered(20, 33, 47), pix_fmt="yuv444p", quality=1),
        "rot90": write_custom(d / "rot90.mp4", numbered(12), rotation=90),
        "rot270": write_custom(d / "rot270.mp4", numbered(12), rotation=270),
        "vfr": write_custom(d / "vfr.mp4", numbered(150), pts_ms=vfr_pts(150), gop=20),
        "vfr_mkv": write_custom(d / "vfr.mkv", numbered(150), pts_ms=vfr_pts(150), gop=20),
        # 40/80 ms steps: every pts is on the 25 fps grid, yet frame i is not at i * 40 ms
        "vfr_grid": write_custom(
            d / "vfr_grid.mkv",
            numbered(150),
            pts_ms=[int(v) for v in np.cumsum([0] + [80 if k % 4 == 0 else 40 for k in range(149)])],
            gop=20,
        ),
    }
    frames = {}
    for name, path in list(v.items()):
        folder = write_frame_folder(decode_all(path).numpy(), d / f"{name}_jpeg", quality=97)
        frames[name] = folder
    return v, frames


CASES = ["avi", "mp4", "gray_odd", "yuv444_odd", "rot90", "vfr", "vfr_mkv"]


@pytest.mark.parametrize("name", CASES)
def test_decoders_agree(videos, name):
    v, frames = videos
    pyav = PyAVDecoder(seek_threshold=8)
    info = pyav.info(v[name])
    n = info.num_frames
    idx = [n - 1, 0, n // 2, 3, 3, n - 2, 1]
    ref = pyav.decode(v[name], idx)
    assert ref.dtype == torch.uint8 and ref.shape == (len(idx), info.height, info.width, 3)
    if name == "rot90":
        assert frame_numbers(torch.rot90(ref, -1, dims=(1, 2))) == idx  # undo the display rotation
    elif name not in ("gray_odd", "yuv444_odd"):
        assert frame_numbers(ref) == idx
    # PyAV seeking == decoding from the start (VFR included)
    assert torch.equal(ref, PyAVDecoder(seek_threshold=10**9).decode(v[name], idx))
    # the JPEG folder made from the same frames (quality 97, 4:4:4): the same within JPEG error
    jpeg = FrameFolderDecoder()
    assert jpeg.info(frames[name]).num_frames == n
    got = jpeg.decode(frames[name], idx)
    assert got.shape == ref.shape and got.dtype == torch.uint8
    assert (got.float() - ref.float()).abs().mean() < 1.5
    assert torch.equal(AutoDecoder().decode(frames[name], idx), got)
    assert torch.equal(AutoDecoder().decode(v[name], idx), ref)
    if HAVE_TORCHCODEC:
        tc = make_decoder("torchcodec")
        ti = tc.info(v[name])
        assert (ti.num_frames, ti.height, ti.width, ti.rotation) == (n, info.height, info.width, info.rotation)
        out = tc.decode(v[name], idx)
        assert out.shape == ref.shape and (out.float() - ref.float()).abs().mean() < 1.5


@pytest.mark.skipif(HAVE_TORCHCODEC, reason="torchcodec is installed here")
def test_torchcodec_missing_is_one_clear_line():
    with pytest.raises(DecoderUnavailable) as info:
        make_decoder("torchcodec")
    msg = str(info.value)
    assert "\n" not in msg and "pip install torchcodec" in msg and "apt-get install -y ffmpeg" in msg
    assert isinstance(info.value, ImportError) and isinstance(info.value, DataError)


def test_torchcodec_import_failure(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcodec", None)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    with pytest.raises(DecoderUnavailable, match="pip install torchcodec"):
        make_decoder("torchcodec")
    assert "torchcodec" not in available_decoders()


@pytest.mark.parametrize("name, k", [("rot90", 1), ("rot270", 3)])
def test_rotation_applied(videos, name, k):
    v, _ = videos
    info = PyAVDecoder().info(v[name])
    assert (info.height, info.width, info.rotation) == (48, 32, 90 * k)
    out = PyAVDecoder().decode(v[name], [0, 5])
    src = np.rot90(numbered(12)[[0, 5]], k, axes=(1, 2))  # counter-clockwise, as displayed
    assert out.shape == src.shape
    assert np.abs(out.numpy().astype(float) - src).mean() < 3
    assert np.array_equal(decode_all(v[name])[[0, 5]].numpy(), out.numpy())


def test_grayscale_and_yuv444_come_out_rgb(videos):
    v, _ = videos
    g = PyAVDecoder().decode(v["gray_odd"], [0, 7])
    assert g.shape == (2, 33, 47, 3)
    assert torch.equal(g[..., 0], g[..., 1]) and torch.equal(g[..., 1], g[..., 2])
    y = PyAVDecoder().decode(v["yuv444_odd"], [2])
    assert y.shape == (1, 33, 47, 3)
    assert (y[0].float() - torch.from_numpy(numbered(20, 33, 47)[2]).float()).abs().mean() < 3


def test_make_decoder_names():
    assert isinstance(make_decoder(), PyAVDecoder) and isinstance(make_decoder_alias("pyav"), PyAVDecoder)
    assert isinstance(make_decoder("frames"), FrameFolderDecoder)
    assert isinstance(make_decoder("jpeg"), FrameFolderDecoder)
    auto = make_decoder("auto")
    assert isinstance(auto, AutoDecoder) and isinstance(auto.files, PyAVDecoder)
    with pytest.raises(ValueError, match="unknown decoder 'ffmpeg'"):
        make_decoder("ffmpeg")
    assert {"pyav", "frames", "auto"} <= set(available_decoders())


def test_frame_folder_order_and_errors(tmp_path):
    d = tmp_path / "vid"
    write_frame_folder(numbered(12), d, pattern="frame_{}.jpg")  # frame_1 .. frame_12: natural order
    dec = FrameFolderDecoder(fps=30)
    info = dec.info(d)
    assert (info.num_frames, info.height, info.width, info.fps, info.codec) == (12, 32, 48, 30.0, "jpeg")
    assert frame_numbers(dec.decode(d, [11, 1, 10, 2])) == [11, 1, 10, 2]
    assert frame_numbers(dec.decode(d, [11, 20])) == [11, 11]  # a little past the end: clamped
    with pytest.raises(DecodeError, match="truncated"):
        dec.decode(d, [40])
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "img_00001.jpg").write_bytes(b"\xff\xd8not a jpeg")
    (tmp_path / "file.avi").write_bytes(b"x")
    for path, reason in [
        (tmp_path / "nope", "file not found"),
        (tmp_path / "empty", "no JPEG frames"),
        (tmp_path / "file.avi", "not a frame folder"),
        (tmp_path / "bad", "corrupt JPEG"),
    ]:
        with pytest.raises(DecodeError, match=reason) as err:
            dec.decode(path, [0])
        assert str(path) in str(err.value) and "\n" not in err.value.reason


@pytest.mark.parametrize("name", ["vfr", "vfr_mkv", "vfr_grid", "mp4"])
def test_seek_lands_on_the_right_frame_with_variable_frame_rate(videos, name):
    v, _ = videos
    seeking, linear = PyAVDecoder(seek_threshold=16), PyAVDecoder(seek_threshold=10**9)
    for idx in ([120, 100, 149, 70], [40, 41, 90], [137, 138, 139]):
        if name == "mp4":
            idx = [i % 40 for i in idx if i % 40 > 16] or [30]
        a = seeking.decode(v[name], idx)
        assert frame_numbers(a) == idx, (name, idx)
        assert torch.equal(a, linear.decode(v[name], idx))
    assert len(seeking._pts) == (0 if name == "mp4" else 1)  # VFR / unprovable: seeks by the pts table
    if HAVE_TORCHCODEC:
        t = make_decoder("torchcodec").decode(v[name], [120 % 40 if name == "mp4" else 120])
        assert frame_numbers(t) == [0 if name == "mp4" else 120]
