"""Per-process cache of video facts for the datasets (each DataLoader worker keeps its own)."""

from __future__ import annotations

from ..decoders.base import VideoInfo

__all__ = ["InfoCache"]


class InfoCache:
    """Per-process cache of ``decoder.info(path)`` (each DataLoader worker keeps its own copy)."""

    decoder: object
    _info: dict

    def info(self, path) -> VideoInfo:
        key = str(path)
        if key not in self._info:
            self._info[key] = self.decoder.info(path)
        return self._info[key]
