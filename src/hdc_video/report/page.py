"""Page assembly of ``hdc report``: one self-contained ``index.html`` (inline CSS, no JavaScript)
that links the PNGs next to it by relative name."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

# metrics.json keys that describe the evaluation rather than its numbers
META_KEYS = {"kind", "protocol", "checkpoint", "random_init", "backbone", "width", "data_root"}
# settings the protocol sentence already states: not repeated in the "other" column
SETTING_KEYS = {
    "split",
    "num_clips",
    "clip_len",
    "stride",
    "size",
    "level",
    "levels",
    "num_stages",
    "subsets",
    "centring",
    "labels",
    "label_columns",
    "dims",
}
KIND_ORDER = ["linear", "finetune", "retrieve", "extract"]
KIND_TITLES = {
    "linear": "Linear probe",
    "finetune": "Fine-tuning",
    "retrieve": "Video retrieval",
    "extract": "Feature extraction",
}
RECALL_KS = ["1", "5", "10", "20", "50"]

CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1400px;
     padding:0 16px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:36px}
h3,h4{margin-bottom:6px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:0.92em}
th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.protocol{max-width:520px;font-size:0.9em;color:#333}
.kv th{width:160px}
.warn{background:#fff4e0;border:1px solid #f0b429;border-radius:4px;padding:8px 14px;margin:14px 0}
.warn li{font-family:monospace;font-size:0.9em}
figure{margin:10px 0 26px} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:0.9em;color:#555;margin-top:4px}
nav a{margin-right:14px} .muted{color:#777}
"""


@dataclass
class EvalResult:
    """One evaluation folder as the report sees it."""

    name: str
    path: Path
    kind: str
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    title: str
    header: dict[str, str]
    warnings: list[str] = field(default_factory=list)
    training: list[tuple[str, str]] = field(default_factory=list)  # (png name, caption)
    knn: list[tuple[str, str]] = field(default_factory=list)
    weights: list[tuple[str, str]] = field(default_factory=list)
    evals: list[EvalResult] = field(default_factory=list)
    tsne: list[tuple[str, str]] = field(default_factory=list)
    retrieval: list[tuple[str, str]] = field(default_factory=list)
    confusion: list[tuple[str, str]] = field(default_factory=list)
    studies: list[tuple[dict, tuple[str, str] | None]] = field(default_factory=list)  # (study, figure)
    notes: dict[str, str] = field(default_factory=dict)  # section id -> why it is empty


# ---------------------------------------------------------------------------------- formatting
def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def pct(v) -> str:
    """A fraction in [0, 1] as a percentage; anything else as :func:`fmt`."""
    if _is_num(v) and math.isfinite(v) and 0.0 <= v <= 1.0:
        return f"{100 * v:.1f}%"
    return fmt(v)


def fmt(v, depth: int = 0) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, dict):
        if depth >= 2:
            return "{…}"
        return ", ".join(f"{k}: {fmt(x, depth + 1)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt(x, depth + 1) for x in v[:8]) + (", …]" if len(v) > 8 else "]")
    return str(v)


def _recall(r) -> str:
    if not isinstance(r, dict):
        return fmt(r)
    return " · ".join(f"R@{k} {pct(r[k])}" for k in r)


def _per_level(p) -> str:
    if not isinstance(p, dict):
        return fmt(p)
    parts = []
    for k, v in p.items():
        if isinstance(v, dict):
            v = v.get("top1_video", v.get("top1_clip", fmt(v)))
        name = k if str(k).startswith("L") else f"L{k}"
        parts.append(f"{name} {pct(v)}")
    return " · ".join(parts)


def _init(m: dict) -> str:
    if m.get("random_init"):
        return "random init"
    return str(m.get("checkpoint") or "–")


def _backbone(m: dict) -> str:
    b = m.get("backbone")
    if b is None:
        return "–"
    return f"{b} ×{fmt(m['width'])}" if m.get("width") is not None else str(b)


def _other(m: dict, used: set[str]) -> str:
    rest = {k: v for k, v in m.items() if k not in META_KEYS | SETTING_KEYS and k not in used}
    parts = []
    for k, v in rest.items():
        if k == "skipped":  # {subset: [videos that failed to decode]}: only worth a word when non-empty
            n = sum(len(x) for x in v.values() if isinstance(x, list)) if isinstance(v, dict) else v
            if n:
                parts.append(f"skipped (undecodable): {fmt(v)}")
        elif k.startswith("recall"):
            parts.append(f"{k}: {_recall(v)}")
        else:
            parts.append(f"{k}: {fmt(v)}")
    return "; ".join(parts)


# ------------------------------------------------------------------------------- HTML snippets
def _td(text: str, cls: str = "") -> str:
    c = f' class="{cls}"' if cls else ""
    return f"<td{c}>{escape(text)}</td>"


def kv_table(items: dict[str, str]) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in items.items())
    return f'<table class="kv">{rows}</table>'


def metrics_table(kind: str, evals: list[EvalResult]) -> str:
    """One table for all evaluations of ``kind``: numbers, then the protocol sentence."""
    if kind == "linear":
        num_cols = [
            ("label", "label", fmt),
            ("top1_clip", "top-1 clip", pct),
            ("top1_video", "top-1 video", pct),
            ("per_level", "per level (top-1 video)", _per_level),
        ]
    elif kind == "finetune":
        num_cols = [
            (k, k.replace("_", " ").replace("top", "top-"), pct)
            for k in ("top1_clip", "top5_clip", "top1_video", "top5_video")
        ]
    elif kind == "retrieve":
        num_cols = [("recall", f"R@{k}", None) for k in RECALL_KS]
    else:
        num_cols = []
    heads = ["eval", "weights", "backbone"] + [h for _, h, _ in num_cols] + ["other", "protocol"]
    out = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in heads) + "</tr>"]
    for ev in evals:
        m = ev.metrics
        cells = [f'<td title="{escape(str(ev.path))}">{escape(ev.name)}</td>', _td(_init(m)), _td(_backbone(m))]
        used = set()
        for i, (key, _, f) in enumerate(num_cols):
            used.add(key)
            if kind == "retrieve":
                r = m.get("recall")
                k = RECALL_KS[i]
                cells.append(_td(pct(r.get(k)) if isinstance(r, dict) and k in r else "–", "num"))
            else:
                cells.append(_td(f(m[key]) if key in m else "–", "num" if key != "label" else ""))
        cells.append(_td(_other(m, used)))
        cells.append(_td(str(m.get("protocol") or "(no protocol recorded)"), "protocol"))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _figures(figs: list[tuple[str, str]]) -> str:
    return "\n".join(
        f'<figure><img src="{escape(name)}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
        for name, caption in figs
    )


def _mean_std(cell: dict | None, best: bool) -> str:
    if not cell:
        return "<td>–</td>"
    text = escape(f"{cell['mean']:.3f} ± {cell['std']:.3f}")
    return f'<td class="num">{f"<b>{text}</b>" if best else text}</td>'


def study_tables(study: dict, figure: tuple[str, str] | None) -> str:
    """An ``hdc study`` summary (:func:`hdc_video.report.study.load_study`): one table per label,
    rows x levels, mean ± std over seeds, each row's best level in bold (as in study.md)."""
    seeds = ", ".join(map(str, study["seeds"])) or "?"
    out = [f'<h3 title="{escape(str(study["path"]))}">{escape(study["name"])}</h3>']
    if study["description"]:
        out.append(f"<p>{escape(study['description'])}</p>")
    clips = f"; {study['num_clips']} clips per video" if study.get("num_clips") else ""
    out.append(
        f'<p class="muted">Data {escape(study["data"])}; seeds {escape(seeds)}; '
        f"{escape(study['metric'] or 'linear probe top-1')}{escape(clips)}; bold = the row's best level.</p>"
    )
    for label in study["labels"]:
        levels = study["levels"][label]
        out.append(
            f"<h4>{escape(label)}</h4><table><tr><th>row</th>"
            + "".join(f"<th>{escape(lv)}</th>" for lv in levels)
            + "</tr>"
        )
        for rname, per_label in study["rows"].items():
            cells = per_label.get(label, {})
            best = max(cells, key=lambda lv: cells[lv]["mean"]) if cells else None
            out.append(
                f"<tr><td>{escape(rname)}</td>"
                + "".join(_mean_std(cells.get(lv), lv == best) for lv in levels)
                + "</tr>"
            )
        out.append("</table>")
    if study["notes"]:
        out.append(
            "<ul>" + "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>" for k, v in study["notes"].items()) + "</ul>"
        )
    return "\n".join(out + ([_figures([figure])] if figure else []))


def _section(sid: str, title: str, body: str, note: str | None) -> str:
    if not body.strip():
        body = f'<p class="muted">{escape(note or "Nothing to show.")}</p>'
    return f'<section id="{sid}"><h2>{escape(title)}</h2>\n{body}\n</section>'


def render(page: Page) -> str:
    """The whole page as a string."""
    by_kind: dict[str, list[EvalResult]] = {}
    for ev in page.evals:
        by_kind.setdefault(ev.kind, []).append(ev)
    kinds = [k for k in KIND_ORDER if k in by_kind] + sorted(k for k in by_kind if k not in KIND_ORDER)
    tables = "\n".join(f"<h3>{escape(KIND_TITLES.get(k, k))}</h3>\n{metrics_table(k, by_kind[k])}" for k in kinds)
    sections = [
        ("training", "Training curves", _figures(page.training)),
        ("knn", "kNN monitor", _figures(page.knn)),
        ("weights", "Level weights", _figures(page.weights)),
        ("metrics", "Evaluation metrics", tables),
        ("tsne", "t-SNE of test features", _figures(page.tsne)),
        ("retrieval", "Retrieval examples", _figures(page.retrieval)),
        ("confusion", "Confusion matrices", _figures(page.confusion)),
        ("study", "Study", "\n".join(study_tables(st, fig) for st, fig in page.studies)),
    ]
    nav = " ".join(f'<a href="#{sid}">{escape(t)}</a>' for sid, t, _ in sections)
    warn = ""
    if page.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in page.warnings)
        warn = (
            f'<div class="warn" id="warnings"><strong>{len(page.warnings)} warning'
            f"{'s' if len(page.warnings) != 1 else ''}</strong><ul>{items}</ul></div>"
        )
    body = "\n".join(_section(sid, t, b, page.notes.get(sid)) for sid, t, b in sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(page.title)}</title><style>{CSS}</style></head><body>\n"
        f"<h1>{escape(page.title)}</h1>\n{kv_table(page.header)}\n<nav>{nav}</nav>\n{warn}\n{body}\n"
        f'<p class="muted">Written by <code>hdc report</code>.</p>\n</body></html>\n'
    )
