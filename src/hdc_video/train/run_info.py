"""What a run is running on, said once at start-up and once at the end.

Every trainer logs, to the console and ``RUN/log.txt``, the resolved device, precision, memory
layout, compile, world size, the dataset (format, videos, skipped up front) and the config when it
starts, and steps, wall time, clips/s, skipped updates and skipped videos when it ends. The same
facts go to ``RUN/run.json`` (``{"start": {...}, "end": {...}}``, written atomically).
"""

from __future__ import annotations

import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger("hdc_video")

__all__ = ["start_facts", "log_start", "log_end", "write_run_json"]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return f"cpu ({_cpu_name()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def start_facts(
    *,
    device: torch.device,
    dtype: torch.dtype | None,
    runtime: dict,
    compile: bool,
    world_size: int,
    index,
    config: dict[str, Any],
    precision_note: str = "",
) -> dict[str, Any]:
    """The start-up facts of a run (``runtime``: what :func:`~hdc_video.train.runtime.prepare_backbone`
    did; ``index``: the training :class:`~hdc_video.data.indexes.VideoIndex`)."""
    return {
        "device": _device_name(device),
        "precision": "bf16" if dtype == torch.bfloat16 else "fp32",
        "precision_note": precision_note or ("bf16" if dtype == torch.bfloat16 else "fp32"),
        "memory_layout": "channels_last_3d" if runtime.get("channels_last") else "contiguous",
        "time_padded_convs": int(runtime.get("time_padded_convs", 0)),
        "compile": bool(compile),
        "world_size": int(world_size),
        "torch": torch.__version__,
        "dataset": {
            "root": str(index.root),
            "format": index.format or "?",
            "videos": len(index),
            "classes": len(index.classes),
            "skipped_up_front": int(index.known_bad),
        },
        "config": config,
    }


def log_start(facts: dict[str, Any], what: str = "run") -> None:
    d = facts["dataset"]
    pad = (
        f", {facts['time_padded_convs']} conv3d with explicit time padding (CPU bf16 workaround)"
        if facts["time_padded_convs"]
        else ""
    )
    log.info(
        "%s on %s; precision %s, %s%s; compile %s; %d process(es); torch %s",
        what,
        facts["device"],
        facts["precision_note"],
        facts["memory_layout"],
        pad,
        "on" if facts["compile"] else "off",
        facts["world_size"],
        facts["torch"],
    )
    log.info(
        "dataset %s: format %s, %d videos, %d classes, %d skipped up front (bad_videos.txt)",
        d["root"],
        d["format"],
        d["videos"],
        d["classes"],
        d["skipped_up_front"],
    )
    log.info("config: %s", json.dumps(facts["config"], separators=(",", ":")))


def log_end(end: dict[str, Any], what: str = "run") -> None:
    log.info(
        "%s finished: %d steps in %.1f s (%.1f clips/s); %d update(s) skipped (non-finite); %d video(s) skipped",
        what,
        end["steps"],
        end["wall_s"],
        end["clips_per_s"],
        end["skipped_updates"],
        end["skipped_videos"],
    )


def write_run_json(out: Path, start: dict[str, Any], end: dict[str, Any] | None = None) -> Path:
    """``RUN/run.json`` = ``{"start": start, "end": end}``; atomic (temporary file + rename)."""
    path = Path(out) / "run.json"
    tmp = path.with_name(".run.json.tmp")
    tmp.write_text(json.dumps({"start": start, "end": end}, indent=1, default=str) + "\n")
    tmp.replace(path)
    return path
