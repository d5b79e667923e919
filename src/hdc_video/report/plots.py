"""Figures of ``hdc report`` (matplotlib, Agg backend). Every function writes one PNG and returns
its path; inputs are plain Python / numpy values (the loading and its error handling live in
:mod:`hdc_video.report.collect`)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 100
LEVEL_KEY = re.compile(r"^L(-?\d+)/(.+)$")
GREEN, RED, GREY, BLUE = "#1a9641", "#d7191c", "#9e9e9e", "#2c7bb6"


# ------------------------------------------------------------------------------ training curves
def series(rows: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values) of ``key`` over ``rows``: finite numbers only, sorted by step, the last
    row wins for a repeated step."""
    by_step: dict[float, float] = {}
    for r in rows:
        v, s = r.get(key), r.get("step")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not isinstance(s, (int, float)):
            continue
        if math.isfinite(v):
            by_step[s] = float(v)
    steps = np.array(sorted(by_step), dtype=float)
    return steps, np.array([by_step[s] for s in steps], dtype=float)


def levels_in(rows: Sequence[dict]) -> list[str]:
    """Level names (``L1``, ``L2``, ...) present in the metric keys, in numeric order."""
    found = {int(m.group(1)) for r in rows for k in r for m in [LEVEL_KEY.match(k)] if m}
    return [f"L{k}" for k in sorted(found)]


def smooth(values: np.ndarray, s: float | None = None) -> tuple[np.ndarray, float]:
    """Debiased exponential moving average (TensorBoard's smoothing); ``s`` defaults to a factor
    that grows with the length of the curve."""
    n = len(values)
    if s is None:
        s = float(np.clip(1.0 - 10.0 / max(n, 1), 0.0, 0.95))
    out, acc, norm = np.empty(n), 0.0, 0.0
    for i, v in enumerate(values):
        acc, norm = s * acc + (1 - s) * v, s * norm + (1 - s)
        out[i] = acc / norm if norm > 0 else v
    return out, s


def _level_colours(levels: Sequence[str]) -> dict[str, str]:
    cmap = plt.get_cmap("viridis")
    n = max(len(levels) - 1, 1)
    return {lv: cmap(0.85 * i / n) for i, lv in enumerate(levels)}


def _panel_grid(n: int, title: str, cols: int = 2):
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.6 * cols, 3.6 * rows), squeeze=False)
    fig.suptitle(title, fontsize=13)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _style(ax, title: str, ylabel: str | None = None) -> None:
    """Title, ``step`` on x (and ``ylabel`` on y), a light grid: every curve panel."""
    ax.set_title(title)
    ax.set_xlabel("step")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


# (file, figure title, [(key after "L<k>/", panel title)], smoothed, caption, section, columns)
MEASURES = ("margin", "accuracy", "mi", "pos_cosine")
LEVEL_GROUPS = [
    (
        "train_level_losses.png",
        "Per-level losses (raw and smoothed)",
        [("sc_loss", "Spatial Contrast loss $L_{SC}^{(k)}$"), ("tc_loss", "Temporal Contrast loss $L_{TC}^{(k)}$")],
        True,
        "Per-level SC and TC losses; thin lines per step, thick lines smoothed.",
        "training",
        2,
    ),
    (
        "train_weights.png",
        r"Level weights $\alpha_k$ (SC) and $\beta_k$ (TC) per level",
        [("alpha", r"SC weight $\alpha_k$"), ("beta", r"TC weight $\beta_k$")],
        False,
        "The level weights α_k (Spatial Contrast) and β_k (Temporal Contrast) over training, one line "
        "per level: the factor each level's SC and TC loss is multiplied by in HD-NCE.",
        "weights",
        2,
    ),
    (
        "train_pos_sim.png",
        "Positive-pair similarity of the projected embeddings",
        [("sc_pos_sim", "SC positive-pair cosine similarity"), ("tc_pos_sim", "TC positive-pair cosine similarity")],
        True,
        "Mean cosine similarity of positive pairs after the projection heads, per level.",
        "training",
        2,
    ),
    (
        "train_invariance.png",
        "Measured instance invariance of the backbone features",
        [
            ("sc_invariance", "SC invariance (frame-level features)"),
            ("tc_invariance", "TC invariance (clip-level features)"),
        ],
        False,
        "Measured invariance per level (the measure chosen by method.invariance, an exponential moving "
        "average over batches): the signal the invariance weighting follows.",
        "weights",
        2,
    ),
    (
        "train_inv_ratio.png",
        "Invariance ratio to the deepest level, before the clip",
        [
            ("sc_inv_ratio", r"SC ratio $m_k / m_{deepest}$ (unclipped)"),
            ("tc_inv_ratio", r"TC ratio $m_k / m_{deepest}$ (unclipped)"),
        ],
        False,
        "Unclipped ratio of each level's invariance measure to the deepest level's. With invariance "
        "weighting α_k / β_k are this ratio clipped to at most 1 (dashed line): wherever a curve is above "
        "the line the clip bites and the weight stays at 1.",
        "weights",
        2,
    ),
    (
        "train_measures.png",
        "Every invariance measure per level (SC top, TC bottom)",
        [(f"{t}_{m}", f"{t.upper()} {m.replace('_', ' ')}") for t in ("sc", "tc") for m in MEASURES],
        False,
        "Every invariance measure per level as logged (exponential moving averages); the weighting "
        "follows one of them (method.invariance), the one in the invariance figure.",
        "weights",
        4,
    ),
]


def training_figures(rows: Sequence[dict], out_dir: Path, section: str | None = None) -> list[tuple[Path, str]]:
    """The training-curve PNGs that ``rows`` (metrics.jsonl) has data for -> [(path, caption)]:
    ``section="training"`` the optimisation and per-level loss / similarity curves, ``"weights"``
    the level weights and the invariance they follow, ``None`` both."""
    out_dir = Path(out_dir)
    levels = levels_in(rows)
    colours = _level_colours(levels)
    written: list[tuple[Path, str]] = []

    # total loss (+ smoothed), learning rate, gradient norm
    panels = [
        (k, t)
        for k, t in (
            ("loss", "total loss (HD-NCE)"),
            ("lr", "learning rate"),
            ("grad_norm", "gradient norm (before clipping)"),
        )
        if len(series(rows, k)[0])
    ]
    if panels and section in (None, "training"):
        fig, axes = _panel_grid(len(panels), "Optimisation", cols=3)
        for ax, (key, title) in zip(axes, panels):
            x, y = series(rows, key)
            if key == "lr":
                ax.plot(x, y, color=BLUE)
                ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
            else:
                ax.plot(x, y, color=BLUE, alpha=0.3, lw=0.8, label="per step")
                ys, s = smooth(y)
                ax.plot(x, ys, color=BLUE, lw=2, label=f"smoothed (EMA {s:.2f})")
                ax.legend(fontsize=8)
            _style(ax, title)
        written.append(
            (
                _save(fig, out_dir / "train_loss.png"),
                "Total loss per step with an exponential moving average, learning rate and gradient norm.",
            )
        )

    for fname, title, keys, smoothed, caption, sec, cols in LEVEL_GROUPS:
        avail = [(k, t) for k, t in keys if any(len(series(rows, f"{lv}/{k}")[0]) for lv in levels)]
        if not avail or section not in (None, sec):
            continue
        fig, axes = _panel_grid(len(avail), title, cols=cols)
        for ax, (key, ptitle) in zip(axes, avail):
            for lv in levels:
                x, y = series(rows, f"{lv}/{key}")
                if not len(x):
                    continue
                if smoothed:
                    ax.plot(x, y, color=colours[lv], alpha=0.25, lw=0.7)
                    ax.plot(x, smooth(y)[0], color=colours[lv], lw=2, label=lv)
                else:
                    ax.plot(x, y, color=colours[lv], lw=2, label=lv)
            if key in ("alpha", "beta"):  # weights: keep 0 in view so small changes look small
                ax.set_ylim(0.0, max(1.05, ax.get_ylim()[1]))
            if key.endswith("_inv_ratio"):
                ax.axhline(1.0, color="black", ls="--", lw=1.2, label="clip (weight ≤ 1)")
            _style(ax, ptitle, "weight" if key in ("alpha", "beta") else None)
            ax.legend(fontsize=8, title="level", title_fontsize=8)
        written.append((_save(fig, out_dir / fname), caption))
    return written


def knn_labels(rows: Sequence[dict]) -> list[str]:
    """The labels the kNN monitor logged (``knn/<label>`` keys), in first-seen order."""
    return list(dict.fromkeys(k[4:] for r in rows for k in r if k.startswith("knn/") and len(k) > 4))


def knn_figure(rows: Sequence[dict], path: Path) -> Path | None:
    """One curve per monitored label (``knn/<label>`` over steps), its step-0 value (``knn0/<label>``,
    else the curve's value at step 0) a dashed line of the same colour; ``None`` without kNN rows."""
    labels = [lab for lab in knn_labels(rows) if len(series(rows, f"knn/{lab}")[0])]
    if not labels:
        return None
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    lo, hi = 0.0, 1.0
    for i, lab in enumerate(labels):
        colour = cmap(i % 10)
        x, y = series(rows, f"knn/{lab}")
        ax.plot(x, y, color=colour, lw=2, marker="o", ms=3.5, label=lab)
        base = series(rows, f"knn0/{lab}")[1]
        base = base[-1] if len(base) else (y[0] if x[0] == 0 else None)
        if base is not None:
            ax.axhline(base, color=colour, ls="--", lw=1.2, alpha=0.9)
        lo, hi = min(lo, *y), max(hi, *y)
    ax.plot([], [], color="grey", ls="--", lw=1.2, label="step 0 (dashed)")
    ax.set_ylim(lo - 0.02, hi + 0.05)
    _style(ax, "Online kNN monitor: top-1 of each label from the frozen backbone", "kNN top-1")
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    return _save(fig, path)


# ------------------------------------------------------------------------------------- t-SNE
def _category_colours(values: Sequence[str]) -> tuple[list[str], dict[str, tuple]]:
    cats = sorted(set(values), key=_natural)
    if len(cats) <= 20:
        cmap = plt.get_cmap("tab10" if len(cats) <= 10 else "tab20")
        return cats, {c: cmap(i) for i, c in enumerate(cats)}
    cmap = plt.get_cmap("turbo")
    return cats, {c: cmap(i / (len(cats) - 1)) for i, c in enumerate(cats)}


def _natural(s: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(s))]


def tsne_embed(features: np.ndarray, seed: int = 0, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """2-D t-SNE (``init="pca"``, fixed seed) of L2-normalised, centred features; at most
    ``max_points`` rows (a fixed subsample). Returns (kept row indices, [n, 2] embedding)."""
    from sklearn.manifold import TSNE

    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    keep = np.arange(len(x))
    if len(x) > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), max_points, replace=False))
        x = x[keep]
    x = np.nan_to_num(x)
    x = x - x.mean(0, keepdims=True)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
    emb = TSNE(
        n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed
    ).fit_transform(x)
    return keep, emb


def tsne_figure(rows: Sequence[dict], path: Path) -> Path:
    """One row per feature set: ``{"title": str, "embedding": [n, 2], "colourings": {name: [n labels]}}``,
    one scatter panel per colouring, side by side."""
    ncols = max(len(r["colourings"]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(5.6 * ncols, 4.6 * len(rows)), squeeze=False)
    for r, row in enumerate(rows):
        emb = np.asarray(row["embedding"])
        for c in range(ncols):
            ax = axes[r, c]
            if c >= len(row["colourings"]):
                ax.set_visible(False)
                continue
            name, labels = list(row["colourings"].items())[c]
            cats, cols = _category_colours(labels)
            for cat in cats:
                m = np.array([lab == cat for lab in labels])
                ax.scatter(emb[m, 0], emb[m, 1], s=16, color=cols[cat], label=cat, alpha=0.85, edgecolors="none")
            ax.set_title(f"{row['title']}\ncoloured by {name} ({len(cats)} values)", fontsize=10)
            ax.set_xticks([])
            ax.set_yticks([])
            if len(cats) <= 12:
                ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, markerscale=1.2)
    return _save(fig, path)


# ------------------------------------------------------------------------------ confusion matrix
def confusion_matrix(labels: Sequence[str], preds: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Row-normalised confusion matrix over the classes seen in either column, in the order they
    first appear among the true labels (the split file's class order), then predicted-only ones."""
    classes = list(dict.fromkeys(list(labels) + list(preds)))
    idx = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)))
    for t, p in zip(labels, preds):
        m[idx[t], idx[p]] += 1
    rows = m.sum(1, keepdims=True)
    return classes, np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)


def confusion_figure(labels: Sequence[str], preds: Sequence[str], path: Path, title: str) -> Path:
    classes, m = confusion_matrix(labels, preds)
    n = len(classes)
    side = float(np.clip(0.32 * n + 2.5, 5.0, 14.0))
    fig, ax = plt.subplots(figsize=(side + 1.2, side))
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of the true class")
    acc = float(np.mean([a == b for a, b in zip(labels, preds)])) if len(labels) else float("nan")
    ax.set_title(f"{title}\n{len(labels)} test videos, {n} classes, accuracy {100 * acc:.1f}%", fontsize=10)
    if n <= 30:
        fs = 8 if n <= 15 else 6
        ax.set_xticks(range(n), classes, rotation=90, fontsize=fs)
        ax.set_yticks(range(n), classes, fontsize=fs)
        if n <= 12:
            for i in range(n):
                for j in range(n):
                    if m[i, j] > 0:
                        ax.text(
                            j,
                            i,
                            f"{m[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=7,
                            color="white" if m[i, j] > 0.5 else "black",
                        )
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    return _save(fig, path)
