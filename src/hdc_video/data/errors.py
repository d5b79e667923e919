"""Data-layer exceptions shared by the index, decoder, dataset and generator."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad dataset layout or metadata (split files, CSVs, output folders)."""


class DecodeError(RuntimeError):
    """A video could not be opened or decoded. Carries the offending ``path`` and a ``reason``."""

    def __init__(self, path: str | Path, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (type(self), (self.path, self.reason))
