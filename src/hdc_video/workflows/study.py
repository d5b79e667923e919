"""``hdc study``: a grid of methods x switches x seeds on one dataset, every run evaluated alike.

A grid is a YAML file (bundled ones in ``configs/studies/``, selectable by name)::

    name: nuisance
    description: what the grid asks
    config: demo                        # the base config of every row (bundled name or file)
    overrides: [train.steps=300]        # applied to every row
    seeds: [0, 1, 2]                    # train.seed (pretraining) or the init seed (random rows)
    eval: {num_clips: 4, labels: null}  # labels: null = the action + every attributes.csv column
    rows:
      random: {random_init: true}
      whole: {config: whole, overrides: [method.whole_views=4]}
      hdc: {}

For each row and seed, in order: ``hdc pretrain`` into ``OUT/runs/<row>/seed<k>`` (a finished run
is reused, an interrupted one resumed), ``hdc extract --levels all`` once, then ``hdc linear``
of every label at every level from the cached features. Every step skips what a previous
invocation finished, so an interrupted study continues where it stopped. Then ``study.json``
(every number, per row, label, level and seed), ``study.md`` (mean ± std over seeds per label:
a row per grid row, a column per level, the best level in bold) and ``study.png`` (bars of the
last level, mean ± std) are written.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from hdc_video.config import ConfigError, build_config, config_search_path
from hdc_video.data.errors import DataError
from hdc_video.data.loading import resolve_workers

log = logging.getLogger("hdc_video")

__all__ = ["Grid", "Row", "load_grid", "run_study", "summarise", "format_study"]


@dataclass
class Row:
    name: str
    config: list[str] = field(default_factory=list)  # extra config files after the grid's base
    overrides: list[str] = field(default_factory=list)
    random_init: bool = False
    note: str = ""


@dataclass
class Grid:
    name: str
    rows: list[Row]
    config: list[str] = field(default_factory=lambda: ["demo"])
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    num_clips: int = 4
    labels: list[str] | None = None
    description: str = ""

    def row_config(self, row: Row, extra: list[str] = ()) -> tuple[list[str], list[str]]:
        """``(config files, overrides)`` of a row: the grid's, then the row's, then ``extra``."""
        return self.config + row.config, self.overrides + row.overrides + list(extra)


def _as_list(v, what: str) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int)):
        return [v]
    if not isinstance(v, list):
        raise ConfigError(f"{what}: expected a list, got {v!r}")
    return v


def load_grid(name: str | Path) -> Grid:
    """A grid file, or the name of a bundled one (``configs/studies/<name>.yaml``)."""
    path = Path(name)
    if not path.is_file():
        path = config_search_path() / "studies" / f"{str(name).removesuffix('.yaml')}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (config_search_path() / "studies").glob("*.yaml"))
        raise ConfigError(f"study grid {name!r} is neither a file nor a bundled grid ({', '.join(known)})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    unknown = set(data) - {"name", "description", "config", "overrides", "seeds", "eval", "rows"}
    if unknown:
        raise ConfigError(f"{path}: unknown grid key(s) {', '.join(sorted(unknown))}")
    rows = []
    for rname, spec in (data.get("rows") or {}).items():
        spec = spec or {}
        bad = set(spec) - {"config", "overrides", "random_init", "note"}
        if bad:
            raise ConfigError(f"{path}: row {rname!r}: unknown key(s) {', '.join(sorted(bad))}")
        rows.append(
            Row(
                str(rname),
                [str(c) for c in _as_list(spec.get("config"), f"{rname}.config")],
                [str(o) for o in _as_list(spec.get("overrides"), f"{rname}.overrides")],
                bool(spec.get("random_init", False)),
                str(spec.get("note", "")),
            )
        )
    if not rows:
        raise ConfigError(f"{path}: a grid needs at least one row")
    ev = data.get("eval") or {}
    grid = Grid(
        name=str(data.get("name", path.stem)),
        rows=rows,
        config=[str(c) for c in _as_list(data.get("config", "demo"), "config")],
        overrides=[str(o) for o in _as_list(data.get("overrides"), "overrides")],
        seeds=[int(s) for s in _as_list(data.get("seeds", [0]), "seeds")],
        num_clips=int(ev.get("num_clips", 4)),
        labels=ev.get("labels"),
        description=str(data.get("description", "")),
    )
    for row in grid.rows:  # every row's config must build before any work
        files, over = grid.row_config(row)
        try:
            build_config(files, over)
        except ConfigError as e:
            raise ConfigError(f"{path}: row {row.name!r}: {e}") from None
    return grid


# ------------------------------------------------------------------------------ one run


def _pretrain(data: Path, run: Path, files: list[str], overrides: list[str], progress: bool) -> None:
    from hdc_video.checkpoint import load_checkpoint
    from hdc_video.train.pretrain import pretrain

    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        target = build_config(files, overrides).train.steps
        if load_checkpoint(ckpt)["step"] >= target:
            return
        pretrain(data, run, files, overrides, resume=True, progress=progress)
    else:
        pretrain(data, run, files, overrides, progress=progress)


def _evaluate(data: Path, run: Path, grid: Grid, row: Row, seed: int, cfg, progress: bool) -> dict[str, dict]:
    """Features once (every level), then a probe per label; cached in ``run``."""
    from hdc_video.eval.extract import extract
    from hdc_video.eval.linear_probe import linear_probe
    from hdc_video.eval.source import FeatureSource

    feats = run / "features"
    if not (feats / "metrics.json").is_file():
        if row.random_init:
            model = FeatureSource(
                random_init=True,
                backbone=cfg.model.backbone,
                width=cfg.model.width,
                clip_len=cfg.data.clip_len,
                stride=cfg.data.stride,
                size=cfg.data.size,
                seed=seed,
            )
        else:
            model = FeatureSource(checkpoint=run / "checkpoint.pt")
        model.data, model.num_clips, model.progress = data, grid.num_clips, progress
        model.workers = resolve_workers(cfg.data.workers)
        extract(model, feats, levels="all")
    for label in _labels(run, grid):
        dest = run / f"probe_{label}"
        if not (dest / "metrics.json").is_file():
            linear_probe(FeatureSource(features=feats), dest, levels="all", column=None if label == "action" else label)
    return _finished_probes(run, grid)


def _labels(run: Path, grid: Grid) -> list[str]:
    meta = json.loads((run / "features" / "metrics.json").read_text())
    return grid.labels or ["action", *meta.get("label_columns", [])]


def _finished_probes(run: Path, grid: Grid) -> dict[str, dict] | None:
    """Every label's probe metrics of a finished run; None while anything is missing."""
    if not (run / "features" / "metrics.json").is_file():
        return None
    files = {label: run / f"probe_{label}" / "metrics.json" for label in _labels(run, grid)}
    if not all(f.is_file() for f in files.values()):
        return None
    return {label: json.loads(f.read_text()) for label, f in files.items()}


def _collect_finished(out: Path, grid: Grid, results: dict[str, dict[int, dict]]) -> dict[str, dict[int, dict]]:
    """``results`` plus every finished run of the grid already in ``out`` (earlier calls with other
    ``--rows`` / ``--seeds``), in the grid's row order: a partial rerun never drops a table row."""
    for row in grid.rows:
        for run in sorted((out / "runs" / row.name).glob("seed*")):
            seed = int(run.name[4:]) if run.name[4:].isdigit() else None
            if seed is None or seed in results.get(row.name, {}):
                continue
            probes = _finished_probes(run, grid)
            if probes:
                results.setdefault(row.name, {})[seed] = {lab: _levels(m) for lab, m in probes.items()}
    return {r.name: results[r.name] for r in grid.rows if r.name in results}


def _levels(metrics: dict) -> dict[str, dict[str, float]]:
    per = metrics.get("per_level") or {f"L{metrics['levels'][-1]}": metrics}
    return {k: {"video": float(v["top1_video"]), "clip": float(v["top1_clip"])} for k, v in per.items()}


def run_study(
    grid: Grid,
    data: str | Path,
    out: str | Path,
    seeds: list[int] | None = None,
    rows: list[str] | None = None,
    extra: list[str] = (),
    progress: bool = True,
) -> dict:
    """Run (or continue) every row x seed of ``grid`` on ``data`` into ``out``; write and return
    the summary (:func:`summarise`) of every finished run in ``out`` -- the ones just run and those
    of earlier calls with other ``rows`` / ``seeds``."""
    data, out = Path(data), Path(out)
    if not data.exists():
        raise DataError(f"{data}: dataset root not found")
    seeds = list(seeds) if seeds else grid.seeds
    chosen = [r for r in grid.rows if rows is None or r.name in rows]
    if rows is not None and len(chosen) != len(set(rows)):
        raise ConfigError(
            f"unknown row(s) {', '.join(sorted(set(rows) - {r.name for r in grid.rows}))}; "
            f"the grid has {', '.join(r.name for r in grid.rows)}"
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / "grid.json").write_text(
        json.dumps(
            {
                "grid": grid.__dict__ | {"rows": [r.__dict__ for r in grid.rows]},
                "data": str(data),
                "seeds": seeds,
                "extra": list(extra),
            },
            indent=1,
            default=str,
        )
    )
    results: dict[str, dict[int, dict]] = {}
    jobs = [(r, s) for s in seeds for r in chosen]  # seed-major: a partial study has every row
    for n, (row, seed) in enumerate(jobs, 1):
        files, over = grid.row_config(row, [*extra, f"train.seed={seed}"])
        cfg = build_config(files, over)
        run = out / "runs" / row.name / f"seed{seed}"
        t0 = time.perf_counter()
        log.info("study %s: [%d/%d] %s, seed %d -> %s", grid.name, n, len(jobs), row.name, seed, run)
        if not row.random_init:
            _pretrain(data, run, files, over, progress)
        run.mkdir(parents=True, exist_ok=True)
        probes = _evaluate(data, run, grid, row, seed, cfg, progress)
        results.setdefault(row.name, {})[seed] = {lab: _levels(m) for lab, m in probes.items()}
        log.info(
            "study %s: %s seed %d done in %.0f s (%s)",
            grid.name,
            row.name,
            seed,
            time.perf_counter() - t0,
            ", ".join(f"{lab} {next(reversed(v.values()))['video']:.3f}" for lab, v in results[row.name][seed].items()),
        )
    results = _collect_finished(out, grid, results)
    every_seed = sorted({s for by_seed in results.values() for s in by_seed})
    summary = summarise(grid, results, every_seed, data, extra)
    (out / "study.json").write_text(json.dumps(summary, indent=1))
    (out / "study.md").write_text(format_study(summary))
    try:
        plot_study(summary, out / "study.png")
    except Exception as e:  # noqa: BLE001 - a plot is a convenience, never a failure
        log.warning("study plot not written: %s", e)
    return summary


# ------------------------------------------------------------------------------ summary


def summarise(
    grid: Grid, results: dict[str, dict[int, dict]], seeds: list[int], data: Path, extra: list[str] = ()
) -> dict[str, Any]:
    """``{"rows": {row: {label: {level: {"video": [per seed], "mean", "std", ...}}}}, ...}``."""
    rows: dict[str, Any] = {}
    labels: list[str] = []
    for rname, by_seed in results.items():
        per_label: dict[str, Any] = {}
        for seed in seeds:
            for label, levels in by_seed.get(seed, {}).items():
                if label not in labels:
                    labels.append(label)
                for lv, v in levels.items():
                    cell = per_label.setdefault(label, {}).setdefault(lv, {"video": [], "clip": [], "seeds": []})
                    cell["video"].append(v["video"])
                    cell["clip"].append(v["clip"])
                    cell["seeds"].append(seed)
        for label, levels in per_label.items():
            for cell in levels.values():
                a = np.array(cell["video"])
                cell["mean"], cell["std"] = float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0
        rows[rname] = per_label
    notes = {r.name: r.note for r in grid.rows if r.name in results}
    configs = {
        r.name: {
            "config": grid.row_config(r, list(extra))[0],
            "overrides": grid.row_config(r, list(extra))[1],
            "random_init": r.random_init,
        }
        for r in grid.rows
        if r.name in results
    }
    return {
        "name": grid.name,
        "description": grid.description,
        "data": str(data),
        "seeds": seeds,
        "labels": labels,
        "num_clips": grid.num_clips,
        "rows": rows,
        "notes": notes,
        "configs": configs,
        "metric": "linear probe, video-level top-1 (mean of clip probabilities), mean ± std over seeds",
    }


def _fmt(cell: dict | None, best: bool = False) -> str:
    if not cell:
        return "-"
    text = f"{cell['mean']:.3f} ± {cell['std']:.3f}"
    return f"**{text}**" if best else text


def format_study(summary: dict) -> str:
    """Markdown: one table per label (rows x levels, mean ± std over seeds, best level in bold)."""
    lines = [f"# Study `{summary['name']}`", ""]
    if summary.get("description"):
        lines += [summary["description"].strip(), ""]
    lines += [
        f"Data: `{summary['data']}`; seeds {', '.join(map(str, summary['seeds']))}; {summary['metric']}; "
        f"{summary['num_clips']} clips per video; bold = the row's best level.",
        "",
    ]
    # rows run with fewer seeds than the study (a partial grid) say which seeds they have
    row_seeds = {
        rname: next((c.get("seeds") for lv in r.values() for c in lv.values()), None) or []
        for rname, r in summary["rows"].items()
    }
    uneven = len({tuple(s) for s in row_seeds.values()}) > 1
    for label in summary["labels"]:
        levels = sorted({lv for r in summary["rows"].values() for lv in r.get(label, {})}, key=lambda s: int(s[1:]))
        lines += [f"## {label}", "", "| row | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
        for rname, r in summary["rows"].items():
            cells = r.get(label, {})
            best = max(cells, key=lambda lv: cells[lv]["mean"]) if cells else None
            name = (
                f"{rname} (seed{'s' * (len(row_seeds[rname]) > 1)} {', '.join(map(str, row_seeds[rname]))})"
                if uneven
                else rname
            )
            lines.append(f"| {name} | " + " | ".join(_fmt(cells.get(lv), lv == best) for lv in levels) + " |")
        lines.append("")
    notes = {k: v for k, v in summary.get("notes", {}).items() if v}
    if notes:
        lines += ["Rows:", ""] + [f"- **{k}**: {v}" for k, v in notes.items()] + [""]
    return "\n".join(lines)


def plot_study(summary: dict, path: Path) -> Path:
    """Bars of the last level per label, one group per label, one bar per row (mean ± std)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, rows = summary["labels"], list(summary["rows"])
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * len(labels) * max(1, len(rows)) / 3, 3.6))
    width = 0.8 / max(1, len(rows))
    for j, rname in enumerate(rows):
        means, stds = [], []
        for label in labels:
            cells = summary["rows"][rname].get(label, {})
            last = max(cells, key=lambda s: int(s[1:])) if cells else None
            means.append(cells[last]["mean"] if last else 0.0)
            stds.append(cells[last]["std"] if last else 0.0)
        ax.bar(
            np.arange(len(labels)) + (j - (len(rows) - 1) / 2) * width, means, width, yerr=stds, label=rname, capsize=2
        )
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylabel("linear probe top-1 (last level)")
    ax.set_title(f"study {summary['name']}: mean ± std over {len(summary['seeds'])} seed(s)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
