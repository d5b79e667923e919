"""Atomic checkpoints and RNG state capture.

A checkpoint is written to a temporary file in the same folder, flushed to disk, and renamed over
the target, so a crash (or a kill) at any moment leaves either the old or the new file, never a
torn one. Everything is loaded with ``weights_only=True``: a checkpoint is data, not code.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import torch


class CheckpointError(RuntimeError):
    pass


def save_atomic(state: dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_state(path: str | Path) -> tuple[Path, Any]:
    """``(file, object)`` of a saved file (or of a run folder's ``checkpoint.pt``), loaded safely
    (``weights_only=True``, on the CPU); an unreadable file is one clear :class:`CheckpointError`."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.pt"
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        return path, torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is one clear line
        raise CheckpointError(
            f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ) from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint (file, or a run folder holding ``checkpoint.pt``) safely."""
    path, state = read_state(path)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{path}: not an hdc-video checkpoint (no model/config)")
    return state


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]), "python_pos": random.getstate()[2]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((3, tuple(state["python"]), state["python_pos"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
