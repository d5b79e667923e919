"""JPEG frame folders as videos: ``<video>/img_00001.jpg, img_00002.jpg, ...``.

Any ``*.jpg`` / ``*.jpeg`` names work; they are ordered naturally (``img_2`` before ``img_10``), so
the TSN/mmaction ``img_%05d.jpg``, ``frame_%06d.jpg`` and ``%06d.jpg`` conventions all read right.
Decoding uses Pillow (libjpeg-turbo; ``backend="pil"``, default) or ``torchvision.io.decode_jpeg``
(``backend="torchvision"``, batched; deprecated by torchvision 0.29), always in RGB (grayscale and
CMYK JPEGs converted), with the EXIF orientation applied. A folder holds no frame rate: ``fps``
(constructor) is reported by ``info`` (0 = unknown).
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import DecodeError
from ..indexes.common import FRAME_EXTS, natural_key
from .base import VideoInfo, check_indices, clamp, reason

__all__ = ["FrameFolderDecoder", "write_frame_folder"]


class FrameFolderDecoder:
    name = "frames"

    def __init__(self, fps: float = 0.0, max_clamp: int | None = 16, backend: str = "pil"):
        if backend not in ("pil", "torchvision"):
            raise ValueError(f"backend must be 'pil' or 'torchvision', got {backend!r}")
        self.backend = backend
        self.fps = float(fps)
        self.max_clamp = max_clamp
        self._listing: collections.OrderedDict = collections.OrderedDict()

    def frames(self, path: str | Path) -> list[str]:
        """The frame file names of folder ``path``, in order (cached per folder mtime, LRU)."""
        path = Path(path)
        if not path.exists():
            raise DecodeError(path, "file not found")
        if not path.is_dir():
            raise DecodeError(path, "not a frame folder (a file)")
        try:
            key = (str(path), path.stat().st_mtime_ns)
            if key in self._listing:
                self._listing.move_to_end(key)
                return self._listing[key]
            names = [
                e.name
                for e in os.scandir(path)
                if Path(e.name).suffix.lower() in FRAME_EXTS and not e.name.startswith(".")
            ]
        except OSError as exc:
            raise DecodeError(path, f"cannot list frames ({reason(exc)})") from exc
        if not names:
            raise DecodeError(path, "no JPEG frames in folder")
        names.sort(key=natural_key)
        self._listing[key] = names
        while len(self._listing) > 1024:
            self._listing.popitem(last=False)
        return names

    def _read(self, path: Path, names: list[str]) -> list[torch.Tensor]:
        """``[H, W, 3]`` uint8 RGB tensors of the frames ``names``."""
        data = []
        for n in names:
            try:
                raw = (path / n).read_bytes()
            except OSError as exc:
                raise DecodeError(path, f"frame {n}: {reason(exc)}") from exc
            if not raw:
                raise DecodeError(path, f"frame {n}: empty file")
            data.append(raw)
        try:
            if self.backend == "torchvision":
                from torchvision.io import ImageReadMode, decode_jpeg

                chw = decode_jpeg(
                    [torch.frombuffer(bytearray(r), dtype=torch.uint8) for r in data],
                    mode=ImageReadMode.RGB,
                    apply_exif_orientation=True,
                )
                return [t.permute(1, 2, 0) for t in chw]
            return [_pil_rgb(r) for r in data]
        except Exception as exc:  # noqa: BLE001 - corrupt JPEG
            raise DecodeError(path, f"corrupt JPEG frame ({reason(exc)})") from exc

    def info(self, path: str | Path) -> VideoInfo:
        path = Path(path)
        names = self.frames(path)
        first = self._read(path, names[:1])[0]
        return VideoInfo(
            num_frames=len(names),
            fps=self.fps,
            height=int(first.shape[0]),
            width=int(first.shape[1]),
            codec="jpeg",
            rotation=0,
        )

    def decode(self, path: str | Path, indices: Sequence[int]) -> torch.Tensor:
        path = Path(path)
        idx, wanted = check_indices(path, indices)
        names = self.frames(path)
        real = clamp(path, wanted, len(names), self.max_clamp)
        uniq, inv = np.unique(real, return_inverse=True)
        imgs = self._read(path, [names[int(i)] for i in uniq])
        if len({tuple(t.shape) for t in imgs}) > 1:
            raise DecodeError(path, "frame size changes between JPEG frames")
        stack = torch.stack(imgs)  # [U, H, W, 3]
        pos = {int(w): int(j) for w, j in zip(wanted, inv)}
        return stack[torch.as_tensor([pos[int(i)] for i in idx])].contiguous()


def _pil_rgb(raw: bytes) -> torch.Tensor:
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(raw)) as img:
        img = ImageOps.exif_transpose(img)
        return torch.from_numpy(np.asarray(img.convert("RGB")).copy())


def write_frame_folder(frames, out: str | Path, quality: int = 95, pattern: str = "img_{:05d}.jpg") -> Path:
    """Write ``uint8 [T, H, W, 3]`` frames as a JPEG folder (``img_00001.jpg`` ..., 1-based; 4:4:4 chroma)."""
    from PIL import Image

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(frames)
    for t in range(frames.shape[0]):
        Image.fromarray(frames[t]).save(out / pattern.format(t + 1), quality=int(quality), subsampling=0)
    return out
