"""``hdc study`` folders in ``hdc report``: reading ``study.json`` (the summary that
:func:`hdc_video.workflows.study.summarise` writes) and its bar figure, drawn again from the numbers; the
tables are rendered by :func:`hdc_video.report.page.study_tables`."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .collect import read_json
from .page import _is_num
from .plots import _panel_grid, _save, plt

__all__ = ["is_study_dir", "load_study", "study_figure"]


def is_study_dir(path: str | Path) -> bool:
    """An ``hdc study`` output folder: it holds ``study.json``."""
    return (Path(path) / "study.json").is_file()


def _cell(v) -> dict | None:
    """A study cell as ``{"mean", "std"}`` (std 0 when absent), or ``None`` without a finite mean."""
    finite = lambda x: _is_num(x) and math.isfinite(x)  # noqa: E731
    if not isinstance(v, dict) or not finite(v.get("mean")):
        return None
    return {"mean": float(v["mean"]), "std": float(v["std"]) if finite(v.get("std")) else 0.0}


def _level_key(name: str):
    m = re.fullmatch(r"L(-?\d+)", str(name))
    return (0, int(m.group(1)), "") if m else (1, 0, str(name))


def load_study(path: str | Path, warn) -> dict | None:
    """``study.json`` of an ``hdc study`` folder, checked and normalised: ``{"name", "path",
    "description", "data", "seeds", "metric", "notes", "labels", "levels": {label: [level, ...]},
    "rows": {row: {label: {level: {"mean", "std"}}}}}``; ``None`` when nothing is usable."""
    path = Path(path)
    study = read_json(path / "study.json", warn)
    if study is None:
        return None
    raw = study.get("rows")
    rows: dict[str, dict] = {}
    for rname, per_label in raw.items() if isinstance(raw, dict) else ():
        for label, levels in per_label.items() if isinstance(per_label, dict) else ():
            for lv, v in levels.items() if isinstance(levels, dict) else ():
                cell = _cell(v)
                if cell is not None:
                    rows.setdefault(str(rname), {}).setdefault(str(label), {})[str(lv)] = cell
    if not rows:
        warn(f"{path / 'study.json'}: no rows with a mean, no study section")
        return None
    found = list(dict.fromkeys(lab for r in rows.values() for lab in r))
    given = study.get("labels") if isinstance(study.get("labels"), list) else []
    labels = list(dict.fromkeys([str(lab) for lab in given if str(lab) in found] + found))  # study.json's order
    levels = {lab: sorted({lv for r in rows.values() for lv in r.get(lab, {})}, key=_level_key) for lab in labels}
    seeds = study.get("seeds") if isinstance(study.get("seeds"), list) else []
    notes = study.get("notes") if isinstance(study.get("notes"), dict) else {}
    return {
        "name": str(study.get("name") or path.name),
        "path": path,
        "description": str(study.get("description") or ""),
        "data": str(study.get("data") or "unknown"),
        "seeds": seeds,
        "num_clips": study.get("num_clips"),
        "metric": str(study.get("metric") or ""),
        "notes": {str(k): str(v) for k, v in notes.items() if v and str(k) in rows},
        "labels": labels,
        "levels": levels,
        "rows": rows,
    }


def study_figure(study: dict, path: Path) -> Path:
    """One panel per label of a study (:func:`load_study`): a group of bars per level, one
    bar per row, mean ± std over seeds."""
    labels, names = study["labels"], list(study["rows"])
    fig, axes = _panel_grid(
        len(labels),
        f"Study {study['name']}: linear-probe top-1 per level, mean ± std over {len(study['seeds']) or '?'} seed(s)",
        cols=min(3, len(labels)),
    )
    cmap = plt.get_cmap("tab10")
    width = 0.8 / max(1, len(names))
    for ax, label in zip(axes, labels):
        levels = study["levels"][label]
        for j, rname in enumerate(names):
            cells = study["rows"][rname].get(label, {})
            x = np.arange(len(levels)) + (j - (len(names) - 1) / 2) * width
            mean = [cells[lv]["mean"] if lv in cells else np.nan for lv in levels]
            std = [cells[lv]["std"] if lv in cells else 0.0 for lv in levels]
            ax.bar(x, mean, width, yerr=std, capsize=2, color=cmap(j % 10), label=rname)
        ax.set_xticks(np.arange(len(levels)), levels)
        ax.set_title(label)
        ax.set_xlabel("level")
        ax.set_ylabel("top-1 (video)")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8, title="row", title_fontsize=8)
    return _save(fig, path)
