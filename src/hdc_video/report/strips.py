"""Retrieval strips of ``hdc report``: frames of a few queries of a ``retrieve`` folder and of their
top-ranked neighbours, read through the dataset's own index (``open_index``: UCF101, HMDB51,
Kinetics, CSV and folder layouts) and decoder (``make_decoder("auto")``: video files and JPEG frame
folders alike), drawn one row per query."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .page import EvalResult
from .plots import BLUE, DPI, GREEN, GREY, RED, plt

__all__ = ["video_lookup", "retrieval_strips", "retrieval_figure", "placeholder"]

Lookup = Callable[[str], tuple[Path, str | None]]


def _default_dir(root: Path) -> Path:
    """Where relative paths not in the index are looked for: ``videos/`` (or the official
    ``UCF-101/``) when the root has one, else the root itself."""
    for d in ("videos", "UCF-101"):
        if (root / d).is_dir():
            return root / d
    return root


def video_lookup(root: Path, split: int, warn) -> Lookup:
    """``rel -> (absolute path, class name or None)`` via the dataset's index (train and test
    subsets of ``split``); a path the index does not list (or every path, when the index cannot be
    opened: one warning) is taken relative to the videos folder, class = its first component."""
    from hdc_video.data.indexes import open_index

    known: dict[str, tuple[Path, str | None]] = {}
    errors = []
    for subset in ("train", "test"):
        try:
            index = open_index(root, format="auto", split=split, subset=subset)
        except Exception as e:  # noqa: BLE001 - DataError, or anything a reader throws: fall back below
            errors.append(f"{subset}: {str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__}")
            continue
        for e in index:
            cls = index.classes[e.label] if 0 <= e.label < len(index.classes) else None
            known.setdefault(e.rel, (e.path, cls))
    if not known:
        warn(
            f"{root}: dataset index not readable ({'; '.join(errors)}); retrieval videos looked up as "
            f"paths under {_default_dir(root)}"
        )
    base = _default_dir(root)

    def lookup(rel: str) -> tuple[Path, str | None]:
        if rel in known:
            return known[rel]
        parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts or rel.startswith("/") or not parts:
            return root / "<outside the dataset>", None
        return base.joinpath(*parts), parts[0] if len(parts) > 1 else None

    return lookup


def _pick_queries(queries: list[dict], n_queries: int) -> list[dict]:
    """The first query of ``n_queries`` classes spread evenly over the classes, in list order."""
    labels = list(dict.fromkeys(str(q.get("label")) for q in queries))
    picked = {labels[int(i)] for i in np.linspace(0, len(labels) - 1, min(n_queries, len(labels))).round()}
    chosen, seen = [], set()
    for q in queries:
        lab = str(q.get("label"))
        if lab in picked and lab not in seen:
            chosen.append(q)
            seen.add(lab)
    return chosen


def retrieval_strips(ev: EvalResult, warn, n_queries: int = 4, top: int = 5) -> tuple[list[dict], str]:
    """``(strips for :func:`retrieval_figure`, data root)`` of a retrieve folder; a video that cannot
    be decoded is a ``None`` frame (drawn grey) and one warning lists them."""
    from hdc_video.data.decoders import make_decoder

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
    lookup = video_lookup(root, int(nb.get("split", 1) or 1), warn)
    decoder, failed = make_decoder("auto"), []

    def frames(rel: str, k: int) -> list:
        path = lookup(rel)[0]
        try:
            n = decoder.info(path).num_frames
            idx = [n // 2] if k == 1 else np.linspace(0, n - 1, k).round().astype(int).tolist()
            return [f for f in decoder.decode(path, idx).numpy()]
        except Exception as e:  # noqa: BLE001 - DecodeError, or anything a decoder throws
            failed.append(f"{rel} ({e})")
            return [None] * k

    strips = []
    for q in _pick_queries(queries, n_queries):
        nbs, correct = [str(r) for r in list(q.get("neighbours") or [])[:top]], list(q.get("correct") or [])
        strips.append(
            {
                "label": str(q.get("label")),
                "frames": frames(str(q["path"]), 4),
                "neighbours": [
                    {
                        "frame": frames(r, 1)[0],
                        "label": lookup(r)[1] or r,
                        "correct": bool(correct[j]) if j < len(correct) else None,
                    }
                    for j, r in enumerate(nbs)
                ],
            }
        )
    if failed:
        more = f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
        warn(
            f"{ev.path}: {len(failed)} video(s) could not be decoded for the retrieval strips, shown "
            f"grey: {'; '.join(failed[:3])}{more}"
        )
    return strips, str(root)


# ------------------------------------------------------------------------------------- figure
def placeholder(h: int = 64, w: int = 64) -> np.ndarray:
    return np.full((h, w, 3), 128, dtype=np.uint8)


def _frame_axis(
    ax, frame: np.ndarray | None, colour: str, lw: float, title: str | None = None, title_colour: str = "black"
):
    if frame is None:
        ax.imshow(placeholder(), interpolation="nearest")
        ax.text(
            0.5, 0.5, "could not\ndecode", ha="center", va="center", fontsize=7, transform=ax.transAxes, color="white"
        )
    else:
        ax.imshow(frame, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for sp in ax.spines.values():
        sp.set_edgecolor(colour)
        sp.set_linewidth(lw)
    if title:
        ax.set_title(title, fontsize=7.5, color=title_colour)


def retrieval_figure(strips: Sequence[dict], path: Path, title: str = "") -> Path:
    """One row per query: ``{"label": str, "frames": [4 frames or None], "neighbours":
    [{"frame": array or None, "label": str, "correct": bool | None}, ...]}``; the query's frames
    on the left, its ranked neighbours' middle frames on the right (green border = same class,
    red = different class, grey = unknown)."""
    nq = max(len(s["frames"]) for s in strips)
    nn = max(max((len(s["neighbours"]) for s in strips), default=1), 1)
    ratios = [1.0] * nq + [0.3] + [1.0] * nn
    fig = plt.figure(figsize=(1.45 * (nq + nn) + 0.6, 1.75 * len(strips) + 0.5))
    gs = fig.add_gridspec(len(strips), len(ratios), width_ratios=ratios, wspace=0.12, hspace=0.45)
    for r, s in enumerate(strips):
        for j, fr in enumerate(s["frames"]):
            ax = fig.add_subplot(gs[r, j])
            _frame_axis(ax, fr, BLUE, 1.5, f"query: {s['label']}" if j == 0 else None)
            if j == 0:
                ax.set_ylabel(f"query {r + 1}", fontsize=8)
        for j, nb in enumerate(s["neighbours"]):
            ax = fig.add_subplot(gs[r, nq + 1 + j])
            ok = nb.get("correct")
            colour = GREY if ok is None else (GREEN if ok else RED)
            mark = "" if ok is None else (" \u2713" if ok else " \u2717")
            _frame_axis(ax, nb.get("frame"), colour, 5, f"#{j + 1} {nb['label']}{mark}", colour)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.03, top=1 - 0.55 / (1.75 * len(strips) + 0.5))
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path
