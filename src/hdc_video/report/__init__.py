"""``hdc report``: an HTML page (``index.html`` + PNGs) for a pretraining run and its evaluations.

:func:`write_report` reads ``RUN/metrics.jsonl`` and ``RUN/config.yaml`` and any number of eval
folders in the format of docs/ARCHITECTURE.md ("Evaluation outputs"): ``metrics.json`` tables for
every kind, t-SNE from ``extract`` folders, retrieval strips from ``retrieve`` folders and
confusion matrices from ``linear`` / ``finetune`` folders; ``hdc study`` folders (``study.json``)
among them give the Study section. A missing or unreadable folder or file is a warning (on the
page and in the log), never an error.

Modules: :mod:`.collect` reads the inputs, :mod:`.strips` the retrieval strips, :mod:`.study` the
study folders, :mod:`.plots` draws the figures and :mod:`.page` renders the HTML.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from .collect import (
    Warnings,
    confusion_inputs,
    feature_files,
    load_eval_dir,
    read_metrics_rows,
    run_header,
    slug,
    tsne_row,
    unique_names,
)
from .page import EvalResult, Page, render

log = logging.getLogger("hdc_video.report")

__all__ = ["write_report", "load_eval_dir", "EvalResult"]

KNN_CAPTION = (
    "Online kNN monitor (train.monitor_every): kNN top-1 of every label from the frozen backbone's "
    "features over training; each dashed line, in its curve's colour, is that label's value at step 0. "
    "A curve below its dashed line means the run learns a shortcut instead of that label."
)


def _guard(warn, what: str, fn, *args):
    """Run one section; any failure becomes a warning."""
    try:
        return fn(*args)
    except Exception as e:  # noqa: BLE001 - a report never fails on one bad input
        msg = str(e).strip().splitlines()[0][:200] if str(e).strip() else ""
        warn(f"{what}: failed ({type(e).__name__}{': ' + msg if msg else ''})")
        return None


def _training(page: Page, rows: list[dict], out: Path, warn) -> None:
    """Training curves, kNN monitor and level weights from metrics.jsonl rows."""
    from . import plots

    if not rows:
        return
    for sec in ("training", "weights"):
        figs = (
            _guard(
                warn,
                "training curves" if sec == "training" else "level weights",
                plots.training_figures,
                rows,
                out,
                sec,
            )
            or []
        )
        setattr(page, sec, [(p.name, c) for p, c in figs])
    if not page.training:
        page.notes["training"] = (
            "No loss or per-level loss curves in metrics.jsonl."
            if page.weights
            else "No plottable metrics in metrics.jsonl."
        )
    page.notes["weights"] = "No L<k>/alpha, L<k>/beta or invariance keys in metrics.jsonl."
    if plots.knn_labels(rows):
        png = _guard(warn, "kNN monitor figure", plots.knn_figure, rows, out / "train_knn.png")
        page.knn = [(png.name, KNN_CAPTION)] if png else []
        page.notes["knn"] = "No plottable knn/<label> values in metrics.jsonl (see the warnings)."
    else:
        page.notes["knn"] = "No knn/<label> keys in metrics.jsonl (the kNN monitor was off: train.monitor_every 0)."


def _studies(page: Page, dirs: list[Path], out: Path, warn) -> None:
    from .study import load_study, study_figure

    for i, d in enumerate(dirs):
        study = _guard(warn, f"{d}: study", load_study, d, warn)
        if study is None:
            continue
        png = _guard(warn, f"{d}: study figure", study_figure, study, out / f"study_{i}_{slug(study['name'])}.png")
        page.studies.append(
            (
                study,
                (
                    png.name,
                    f"Study {study['name']}: linear-probe top-1 per label and level, "
                    f"one bar per row, mean ± std over seeds ({d}).",
                )
                if png
                else None,
            )
        )


def _eval_figures(page: Page, evals: list[EvalResult], out: Path, warn) -> None:
    """t-SNE of extract folders, retrieval strips and confusion matrices."""
    from . import plots
    from .strips import retrieval_figure, retrieval_strips

    tsne_rows = [
        r for ev in evals if ev.kind == "extract" for r in [_guard(warn, f"{ev.path}: t-SNE", tsne_row, ev, warn)] if r
    ]
    if tsne_rows:
        png = _guard(warn, "t-SNE figure", plots.tsne_figure, tsne_rows, out / "tsne.png")
        if png:
            page.tsne.append(
                (
                    png.name,
                    "t-SNE (sklearn, init='pca', random_state=0) of clip-averaged test "
                    "features (L2-normalised), one row per extract folder, coloured by each label.",
                )
            )
    for i, ev in enumerate(e for e in evals if e.kind == "retrieve"):
        got = _guard(warn, f"{ev.path}: retrieval strips", retrieval_strips, ev, warn)
        if got:
            png = _guard(
                warn,
                f"{ev.path}: retrieval figure",
                retrieval_figure,
                got[0],
                out / f"retrieval_{i}_{slug(ev.name)}.png",
                f"{ev.name}: query frames and top-5 neighbours",
            )
            if png:
                page.retrieval.append(
                    (
                        png.name,
                        f"{ev.name}: 4 frames of each query (blue) and the middle "
                        f"frame of its top-5 neighbours; green = same class, red = other class "
                        f"(videos from {got[1]}).",
                    )
                )
    for i, ev in enumerate(e for e in evals if e.kind in ("linear", "finetune")):
        got = _guard(warn, f"{ev.path}: confusion matrix", confusion_inputs, ev, warn)
        png = got and _guard(
            warn,
            f"{ev.path}: confusion matrix",
            plots.confusion_figure,
            got[0],
            got[1],
            out / f"confusion_{i}_{slug(ev.name)}.png",
            got[2],
        )
        if png:
            page.confusion.append(
                (
                    png.name,
                    f"Row-normalised confusion matrix of {ev.name} (video-level "
                    f"predictions, {ev.path / 'predictions.csv'}).",
                )
            )


# ------------------------------------------------------------------------------------- entry
def write_report(run_dir: str | Path, eval_dirs: Iterable[str | Path] = (), out_dir: str | Path | None = None) -> Path:
    """Write ``out_dir/index.html`` (default ``run_dir/report``) and its PNGs; return the page's path.
    ``eval_dirs`` may mix eval folders and ``hdc study`` folders (told apart by ``study.json``)."""
    from .study import is_study_dir

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    warn = Warnings()
    if not run_dir.is_dir():
        warn(f"{run_dir}: run folder not found")

    given = [Path(d) for d in eval_dirs]
    study_dirs = [d for d in given if is_study_dir(d)]
    eval_dirs = [d for d in given if d not in study_dirs]
    evals = [ev for ev in (load_eval_dir(d, warn) for d in eval_dirs) if ev is not None]
    unique_names(evals)
    for ev in evals:
        if ev.kind == "extract":
            ev.metrics = {**ev.metrics, "feature files": feature_files(ev)}
    rows = read_metrics_rows(run_dir, warn) if run_dir.is_dir() else []
    name = "/".join(run_dir.resolve().parts[-2:])
    page = Page(title=f"HDC report: {name}", header=run_header(run_dir, rows, evals, warn), warnings=warn, evals=evals)
    _training(page, rows, out, warn)
    _eval_figures(page, evals, out, warn)
    _studies(page, study_dirs, out, warn)

    none = "No metrics.jsonl in the run folder."
    page.notes.update(
        {
            "training": page.notes.get("training", none),
            "knn": page.notes.get("knn", none),
            "weights": page.notes.get("weights", none),
            "metrics": "No readable evaluation folder (see the warnings)."
            if eval_dirs
            else "No evaluation folders given (hdc report RUN EVAL_DIR ...).",
            "tsne": "No usable extract folder.",
            "retrieval": "No usable retrieve folder.",
            "confusion": "No usable linear or finetune folder.",
            "study": "No usable study folder (see the warnings)."
            if study_dirs
            else "No study folder given (hdc report RUN STUDY_DIR: an `hdc study` output with study.json).",
        }
    )
    index = out / "index.html"
    index.write_text(render(page), encoding="utf-8")
    n_figs = sum(len(getattr(page, s)) for s in ("training", "knn", "weights", "tsne", "retrieval", "confusion"))
    log.info("report written to %s (%d figures, %d warnings)", index, n_figs + len(page.studies), len(warn))
    return index
