"""Per-step metrics to ``RUN/metrics.jsonl`` (append-only, one JSON object per line) and TensorBoard."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch


def _step(line: str) -> float:
    """The step of a metrics line; a torn or empty line (a kill mid-write) counts as never logged."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return float("inf")


class MetricsLogger:
    def __init__(self, run_dir: Path, resume_step: int = 0, tensorboard: bool = True):
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step and self.path.exists():
            # Drop lines logged after the checkpoint we resume from: they will be logged again.
            keep = [ln for ln in self.path.read_text().splitlines() if _step(ln) <= resume_step]
            self.path.write_text("".join(k + "\n" for k in keep))
        elif not resume_step:
            self.path.write_text("")
        self._file = self.path.open("a")
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(Path(run_dir) / "tb"), purge_step=resume_step + 1 if resume_step else None)
            except Exception:  # noqa: BLE001 - TensorBoard is a convenience, never a failure
                self._tb = None

    def log(self, step: int, values: dict[str, Any]) -> None:
        row = {
            "step": step,
            **{k: (round(v, 6) if isinstance(v, float) and math.isfinite(v) else v) for k, v in values.items()},
        }
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(k, v, step)

    def close(self) -> None:
        self._file.close()
        if self._tb is not None:
            self._tb.close()


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(ln) for ln in path.read_text().splitlines() if _step(ln) != float("inf")]


class NullMetrics:
    """The metrics logger of ranks other than 0: they write nothing."""

    def log(self, step, values) -> None:
        pass

    def close(self) -> None:
        pass


def scalars(logs: dict[str, torch.Tensor]) -> dict[str, float]:
    """A step's device scalars as floats, in one device->host copy."""
    if not logs:
        return {}
    values = torch.stack([v.detach().float().reshape(()) for v in logs.values()]).tolist()
    return dict(zip(logs, values))
