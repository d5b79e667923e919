"""``hdc report``: an HTML page (``index.html`` + PNGs) for a pretraining run and its evaluations.

:func:`write_report` reads ``RUN/metrics.jsonl`` and ``RUN/config.yaml`` and any number of eval
folders in the format of docs/ARCHITECTURE.md ("Evaluation outputs"): ``metrics.json`` tables for
every kind, t-SNE from ``extract`` folders, retrieval strips from ``retrieve`` folders and
confusion matrices from ``linear`` / ``finetune`` folders. A missing or unreadable folder or file
is a warning (on the page and in the log), never an error.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .html import EvalResult, Page, render

log = logging.getLogger("hdc_video.report")

__all__ = ["write_report", "load_eval_dir", "EvalResult"]


class _Warnings(list):
    def __call__(self, msg: str) -> None:
        log.warning("report: %s", msg)
        self.append(msg)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")[:60] or "eval"


# ------------------------------------------------------------------------------------ run dir
def _read_metrics_rows(run_dir: Path, warn) -> list[dict]:
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


def _run_header(run_dir: Path, rows: list[dict], evals: list[EvalResult], warn) -> dict[str, str]:
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
    head = {
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
    return head


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
    metrics: dict = {}
    mpath = path / "metrics.json"
    try:
        metrics = json.loads(mpath.read_text(encoding="utf-8"))
        if not isinstance(metrics, dict):
            warn(f"{mpath}: not a JSON object, ignored")
            metrics = {}
    except FileNotFoundError:
        warn(f"{mpath}: not found")
    except (OSError, ValueError) as e:
        warn(f"{mpath}: unreadable ({type(e).__name__}: {str(e)[:120]})")
    kind = metrics.get("kind") if isinstance(metrics.get("kind"), str) else None
    if kind is None:
        kind = _infer_kind(path)
        if kind is None:
            warn(f"{path}: no metrics.json kind and no known output files, skipped")
            return None
        warn(f"{path}: kind not recorded, treated as {kind!r} from its files")
    return EvalResult(name=path.name, path=path, kind=kind, metrics=metrics)


def _unique_names(evals: list[EvalResult]) -> None:
    seen: dict[str, int] = {}
    for ev in evals:
        seen[ev.name] = seen.get(ev.name, 0) + 1
    for ev in evals:
        if seen[ev.name] > 1:
            ev.name = f"{ev.path.parent.name}/{ev.path.name}"


def _feature_files(ev: EvalResult) -> str:
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


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in csv.DictReader(f)]


# ----------------------------------------------------------------------------------- sections
def _tsne_row(ev: EvalResult, warn) -> dict | None:
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
    index = _read_csv(ev.path / "index_test.csv")
    if "row" in (index[0] if index else {}):
        index.sort(key=lambda r: int(r["row"]))
    if x.ndim != 2 or len(index) != len(x):
        warn(f"{ev.path}: features_test_L{level}.npy has shape {x.shape} but index_test.csv has "
             f"{len(index)} rows, no t-SNE")
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
    return {"title": title, "embedding": emb,
            "colourings": {c: [index[i].get(c, "?") for i in keep] for c in cols}}


def _resolver(root: Path, split: int):
    """rel -> absolute video path, via the split files when they can be read."""
    from hdc_video.data.index import read_ucf101

    known: dict[str, Path] = {}
    for subset in ("train", "test"):
        try:
            known.update({e.rel: e.path for e in read_ucf101(root, split=split, subset=subset)})
        except Exception:  # noqa: BLE001 - fall back to the default layout below
            pass
    vdir = root / "videos" if (root / "videos").is_dir() or not (root / "UCF-101").is_dir() else root / "UCF-101"

    def resolve(rel: str) -> Path:
        if rel in known:
            return known[rel]
        parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts or rel.startswith("/"):
            return root / "<outside the dataset>"
        return vdir.joinpath(*parts)

    return resolve


def _strips(ev: EvalResult, warn, n_queries: int = 4, top: int = 5) -> tuple[list[dict], str]:
    from hdc_video.data.decode import PyAVDecoder

    nb = json.loads((ev.path / "neighbours.json").read_text(encoding="utf-8"))
    queries = [q for q in nb.get("queries", []) if isinstance(q, dict) and q.get("path")]
    if not queries:
        raise ValueError("no queries")
    root = nb.get("data_root") or ev.metrics.get("data_root")
    if not root:
        raise ValueError("no data_root in neighbours.json or metrics.json")
    root = Path(root)
    if not root.is_absolute() and not root.is_dir() and (ev.path / root).is_dir():
        root = ev.path / root
    resolve = _resolver(root, int(nb.get("split", 1) or 1))
    # the first query of n_queries classes spread evenly over the classes, in list order
    labels = list(dict.fromkeys(str(q.get("label")) for q in queries))
    picked = {labels[int(i)] for i in np.linspace(0, len(labels) - 1, min(n_queries, len(labels))).round()}
    chosen, seen = [], set()
    for q in queries:
        lab = str(q.get("label"))
        if lab in picked and lab not in seen:
            chosen.append(q)
            seen.add(lab)
    decoder, failed = PyAVDecoder(), []

    def frames(rel: str, k: int) -> list:
        path = resolve(rel)
        try:
            n = decoder.info(path).num_frames
            idx = [n // 2] if k == 1 else np.linspace(0, n - 1, k).round().astype(int).tolist()
            return [f for f in decoder.decode(path, idx).numpy()]
        except Exception as e:  # noqa: BLE001 - DecodeError, or anything PyAV throws
            failed.append(f"{rel} ({e})")
            return [None] * k

    strips = []
    for q in chosen:
        nbs, correct = list(q.get("neighbours") or [])[:top], list(q.get("correct") or [])
        strips.append({"label": str(q.get("label")), "frames": frames(str(q["path"]), 4), "neighbours": [
            {"frame": frames(str(r), 1)[0], "label": str(r).replace("\\", "/").split("/")[0],
             "correct": bool(correct[j]) if j < len(correct) else None} for j, r in enumerate(nbs)]})
    if failed:
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        warn(f"{ev.path}: {len(failed)} video(s) could not be decoded for the retrieval strips, shown "
             f"grey: {'; '.join(failed[:3])}{more}")
    return strips, str(root)


def _confusion(ev: EvalResult, out_dir: Path, i: int, warn) -> tuple[str, str] | None:
    from .plots import confusion_figure

    path = ev.path / "predictions.csv"
    if not path.is_file():
        warn(f"{path}: not found, no confusion matrix")
        return None
    rows = _read_csv(path)
    if not rows or not {"label", "pred"} <= set(rows[0]):
        warn(f"{path}: needs 'label' and 'pred' columns and at least one row, no confusion matrix")
        return None
    label = ev.metrics.get("label")
    title = f"{ev.name} ({ev.kind}{', ' + str(label) if label else ''})"
    png = confusion_figure([r["label"] for r in rows], [r["pred"] for r in rows],
                           out_dir / f"confusion_{i}_{_slug(ev.name)}.png", title)
    return png.name, f"Row-normalised confusion matrix of {ev.name} (video-level predictions, {path})."


def _guard(warn, what: str, fn, *args):
    """Run one section; any failure becomes a warning."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - a report never fails on one bad input
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        warn(f"{what}: failed ({type(e).__name__}{': ' + msg if msg else ''})")
        return None


# ------------------------------------------------------------------------------------- entry
def write_report(run_dir: str | Path, eval_dirs: Iterable[str | Path] = (), out_dir: str | Path | None = None) -> Path:
    """Write ``out_dir/index.html`` (default ``run_dir/report``) and its PNGs; return the page's path."""
    from . import plots

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    warn = _Warnings()
    if not run_dir.is_dir():
        warn(f"{run_dir}: run folder not found")

    eval_dirs = list(eval_dirs)
    evals = [ev for ev in (load_eval_dir(d, warn) for d in eval_dirs) if ev is not None]
    _unique_names(evals)
    for ev in evals:
        if ev.kind == "extract":
            ev.metrics = {**ev.metrics, "feature files": _feature_files(ev)}
    rows = _read_metrics_rows(run_dir, warn) if run_dir.is_dir() else []
    name = "/".join(run_dir.resolve().parts[-2:])
    page = Page(title=f"HDC report: {name}", header=_run_header(run_dir, rows, evals, warn),
                warnings=warn, evals=evals)

    figs = _guard(warn, "training curves", plots.training_figures, rows, out) if rows else None
    page.training = [(p.name, c) for p, c in (figs or [])]
    if rows and not figs:
        page.notes["training"] = "No plottable metrics in metrics.jsonl."

    tsne_rows = [r for ev in evals if ev.kind == "extract"
                 for r in [_guard(warn, f"{ev.path}: t-SNE", _tsne_row, ev, warn)] if r]
    if tsne_rows:
        png = _guard(warn, "t-SNE figure", plots.tsne_figure, tsne_rows, out / "tsne.png")
        if png:
            page.tsne.append((png.name, "t-SNE (sklearn, init='pca', random_state=0) of clip-averaged test "
                              "features (L2-normalised), one row per extract folder, coloured by each label."))
    for i, ev in enumerate(e for e in evals if e.kind == "retrieve"):
        got = _guard(warn, f"{ev.path}: retrieval strips", _strips, ev, warn)
        if got:
            png = _guard(warn, f"{ev.path}: retrieval figure", plots.retrieval_figure, got[0],
                         out / f"retrieval_{i}_{_slug(ev.name)}.png", f"{ev.name}: query frames and top-5 neighbours")
            if png:
                page.retrieval.append((png.name, f"{ev.name}: 4 frames of each query (blue) and the middle "
                                       f"frame of its top-5 neighbours; green = same class, red = other class "
                                       f"(videos from {got[1]})."))
    for i, ev in enumerate(e for e in evals if e.kind in ("linear", "finetune")):
        fig = _guard(warn, f"{ev.path}: confusion matrix", _confusion, ev, out, i, warn)
        if fig:
            page.confusion.append(fig)

    page.notes.update({
        "training": page.notes.get("training", "No metrics.jsonl in the run folder."),
        "metrics": "No readable evaluation folder (see the warnings)." if eval_dirs else
                   "No evaluation folders given (hdc report RUN EVAL_DIR ...).",
        "tsne": "No usable extract folder.", "retrieval": "No usable retrieve folder.",
        "confusion": "No usable linear or finetune folder."})
    index = out / "index.html"
    index.write_text(render(page), encoding="utf-8")
    log.info("report written to %s (%d figures, %d warnings)", index,
             len(page.training) + len(page.tsne) + len(page.retrieval) + len(page.confusion), len(warn))
    return index
