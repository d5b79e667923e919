"""Reading the inputs of ``hdc report``: the run folder (``metrics.jsonl``, ``config.yaml``,
``checkpoint.pt``) and the eval folders of docs/ARCHITECTURE.md ("Evaluation outputs"); ``hdc study``
folders are read by :mod:`.study`. Every reader turns a bad input into a warning and returns ``None``."""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from .page import EvalResult

log = logging.getLogger("hdc_video.report")

__all__ = [
    "Warnings",
    "slug",
    "read_json",
    "read_metrics_rows",
    "run_header",
    "load_eval_dir",
    "unique_names",
    "feature_files",
    "read_csv",
    "tsne_row",
    "confusion_inputs",
]


class Warnings(list):
    """A list of warning lines that also logs each one as it is added (``warn(msg)``)."""

    def __call__(self, msg: str) -> None:
        log.warning("report: %s", msg)
        self.append(msg)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "eval"


def read_json(path: Path, warn, missing: str = "not found") -> dict | None:
    """A JSON object from ``path``, or ``None`` (with a warning) when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        warn(f"{path}: {missing}")
        return None
    except (OSError, ValueError) as e:
        warn(f"{path}: unreadable ({type(e).__name__}: {str(e)[:120]})")
        return None
    if not isinstance(data, dict):
        warn(f"{path}: not a JSON object, ignored")
        return None
    return data


# ------------------------------------------------------------------------------------ run dir
def read_metrics_rows(run_dir: Path, warn) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.is_file():
        warn(f"{path}: not found, no training curves")
        return []
    rows, bad = [], 0
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        warn(f"{path}: unreadable ({e})")
        return []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if isinstance(row, dict) and "step" in row:
            rows.append(row)
        else:
            bad += 1
    if bad:
        warn(f"{path}: skipped {bad} unreadable line(s)")
    if not rows:
        warn(f"{path}: no metrics logged")
    return rows


def run_header(run_dir: Path, rows: list[dict], evals: list[EvalResult], warn) -> dict[str, str]:
    cfg: dict[str, Any] = {}
    cpath = run_dir / "config.yaml"
    try:
        import yaml

        cfg = yaml.safe_load(cpath.read_text()) or {}
        if not isinstance(cfg, dict):
            raise ValueError("not a mapping")
    except FileNotFoundError:
        warn(f"{cpath}: not found")
    except Exception as e:  # noqa: BLE001 - a report never fails on a bad file
        warn(f"{cpath}: unreadable ({type(e).__name__}: {e})")
        cfg = {}
    sec = lambda name: cfg.get(name) if isinstance(cfg.get(name), dict) else {}  # noqa: E731
    model, method, data, train = sec("model"), sec("method"), sec("data"), sec("train")
    ckpt_step, data_root = None, cfg.get("data_root")
    ckpt = run_dir / "checkpoint.pt"
    if ckpt.is_file():
        try:
            import torch

            st = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
            ckpt_step, data_root = st.get("step"), data_root or st.get("data_root")
        except Exception as e:  # noqa: BLE001
            warn(f"{ckpt}: unreadable ({type(e).__name__}), step and data root not shown from it")
    if data_root is None:
        roots = {str(ev.metrics["data_root"]) for ev in evals if ev.metrics.get("data_root")}
        data_root = " | ".join(sorted(roots)) if roots else None
    logged = max((r["step"] for r in rows if isinstance(r.get("step"), (int, float))), default=None)
    steps = f"{train.get('steps', '?')} planned"
    if logged is not None:
        steps += f", {logged} logged"
    if ckpt_step is not None:
        steps += f", checkpoint at {ckpt_step}"
    levels = method.get("levels")
    return {
        "run": str(run_dir),
        "data root": str(data_root) if data_root else "unknown",
        "backbone": f"{model.get('backbone', '?')} (width {model.get('width', '?')})",
        "method": f"{method.get('name', '?')}, weighting {method.get('weighting', '?')}, levels "
        f"{levels if levels is not None else '?'}, temperature {method.get('temperature', '?')}",
        "steps": steps,
        "training": f"batch {train.get('batch_size', '?')}, {train.get('optimizer', '?')} lr "
        f"{train.get('lr', '?')}, clips {data.get('clip_len', '?')}×{data.get('size', '?')}² "
        f"stride {data.get('stride', '?')}",
    }


# ----------------------------------------------------------------------------------- eval dirs
def _infer_kind(path: Path) -> str | None:
    if (path / "neighbours.json").is_file():
        return "retrieve"
    if any(path.glob("features_*_L*.npy")):
        return "extract"
    if (path / "predictions.csv").is_file():
        return "linear"
    return None


def load_eval_dir(path: str | Path, warn=None) -> EvalResult | None:
    """``metrics.json`` of an eval folder -> :class:`EvalResult` (kind inferred from its files
    when metrics.json is missing or has none), or ``None`` when the folder is unusable."""
    if warn is None:
        warn = lambda m: log.warning("report: %s", m)  # noqa: E731
    path = Path(path)
    if not path.is_dir():
        warn(f"{path}: eval dir not found, skipped")
        return None
    metrics = read_json(path / "metrics.json", warn) or {}
    kind = metrics.get("kind") if isinstance(metrics.get("kind"), str) else None
    if kind is None:
        kind = _infer_kind(path)
        if kind is None:
            warn(f"{path}: no metrics.json kind and no known output files, skipped")
            return None
        warn(f"{path}: kind not recorded, treated as {kind!r} from its files")
    return EvalResult(name=path.name, path=path, kind=kind, metrics=metrics)


def unique_names(evals: list[EvalResult]) -> None:
    seen: dict[str, int] = {}
    for ev in evals:
        seen[ev.name] = seen.get(ev.name, 0) + 1
    for ev in evals:
        if seen[ev.name] > 1:
            ev.name = f"{ev.path.parent.name}/{ev.path.name}"


def feature_files(ev: EvalResult) -> str:
    """'test L1 30×64, L3 30×256; train ...' from an extract folder's feature files."""
    parts: dict[str, list[str]] = {}
    for p in sorted(ev.path.glob("features_*_L*.npy")):
        m = re.match(r"features_(\w+?)_L(-?\d+)\.npy$", p.name)
        if m:
            try:
                shape = "×".join(str(d) for d in np.load(p, mmap_mode="r", allow_pickle=False).shape)
            except Exception:  # noqa: BLE001
                shape = "unreadable"
            parts.setdefault(m.group(1), []).append(f"L{m.group(2)} {shape}")
    return "; ".join(f"{subset} {', '.join(v)}" for subset, v in parts.items()) or "none found"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


# ------------------------------------------------------------------------------ section inputs
def tsne_row(ev: EvalResult, warn) -> dict | None:
    """The t-SNE row of an extract folder (deepest test level), for :func:`plots.tsne_figure`."""
    from .plots import tsne_embed

    feats = {}
    for p in ev.path.glob("features_test_L*.npy"):
        m = re.match(r"features_test_L(-?\d+)\.npy$", p.name)
        if m:
            feats[int(m.group(1))] = p
    if not feats:
        warn(f"{ev.path}: no features_test_L*.npy, no t-SNE")
        return None
    level = max(feats)
    x = np.load(feats[level], allow_pickle=False)
    index = read_csv(ev.path / "index_test.csv")
    if "row" in (index[0] if index else {}):
        index.sort(key=lambda r: int(r["row"]))
    if x.ndim != 2 or len(index) != len(x):
        warn(
            f"{ev.path}: features_test_L{level}.npy has shape {x.shape} but index_test.csv has "
            f"{len(index)} rows, no t-SNE"
        )
        return None
    if len(x) < 5:
        warn(f"{ev.path}: only {len(x)} test videos, too few for t-SNE")
        return None
    cols = [c for c in ("appearance", "motion") if index and all(r.get(c) for r in index)]
    if not cols:
        cols = ["class" if index and "class" in index[0] else "label"]
    keep, emb = tsne_embed(x)
    who = "random init" if ev.metrics.get("random_init") else (ev.metrics.get("backbone") or "")
    title = f"{ev.name} (L{level}, {len(keep)} test videos{', ' + who if who else ''})"
    return {"title": title, "embedding": emb, "colourings": {c: [index[i].get(c, "?") for i in keep] for c in cols}}


def confusion_inputs(ev: EvalResult, warn) -> tuple[list[str], list[str], str] | None:
    """``(true labels, predictions, title)`` from a linear / finetune folder's predictions.csv."""
    path = ev.path / "predictions.csv"
    if not path.is_file():
        warn(f"{path}: not found, no confusion matrix")
        return None
    rows = read_csv(path)
    if not rows or not {"label", "pred"} <= set(rows[0]):
        warn(f"{path}: needs 'label' and 'pred' columns and at least one row, no confusion matrix")
        return None
    label = ev.metrics.get("label")
    title = f"{ev.name} ({ev.kind}{', ' + str(label) if label else ''})"
    return [r["label"] for r in rows], [r["pred"] for r in rows], title
