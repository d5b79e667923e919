"""``hdc report`` sections for what the trainer logs beyond the losses (kNN monitor, level weights)
and for ``hdc study`` folders; each one degrades to a note when its inputs are missing."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from test_report import _check_png, _metrics_rows, _write_extract, _write_run

from hdc_video.cli import build_parser
from hdc_video.report import plots, write_report

MEASURES = ("margin", "accuracy", "mi", "pos_cosine")


def _section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, f"no section {sid}"
    return m.group(1)


def _knn_rows(steps=20, every=5):
    """Monitor rows as the trainer logs them: step 0, then every ``every`` steps, with knn0/ beside."""
    step0 = {"knn/action": 0.30, "knn/appearance": 0.55}
    rows = [{"step": 0, **step0, **{k.replace("knn/", "knn0/"): v for k, v in step0.items()}}]
    for s in range(every, steps + 1, every):
        rows.append(
            {
                "step": s,
                "knn/action": 0.30 + s / 50,
                "knn/appearance": 0.55 - s / 100,
                "knn0/action": 0.30,
                "knn0/appearance": 0.55,
            }
        )
    return rows


def _level_rows(steps=20, levels=3):
    """The per-level keys of HDC._log_levels: weights, the followed measure, its unclipped ratio, every measure."""
    rows = []
    for s in range(1, steps + 1):
        r = {"step": s}
        for k in range(levels):
            for t in ("sc", "tc"):
                ratio = (k + 1) / levels * (1 + s / 10)  # shallow levels overtake the deepest: the clip bites
                r.update(
                    {
                        f"L{k}/{t}_inv_ratio": ratio,
                        f"L{k}/{t}_invariance": 0.1 * (k + 1) + s / 100,
                        f"L{k}/{'alpha' if t == 'sc' else 'beta'}": min(1.0, max(0.05, ratio)),
                        **{f"L{k}/{t}_{m}": 0.2 * (k + 1) + s / (100 * (i + 1)) for i, m in enumerate(MEASURES)},
                    }
                )
        rows.append(r)
    return rows


def test_knn_monitor_curves_and_dashed_step0(tmp_path, monkeypatch):
    run = _write_run(tmp_path / "run", _metrics_rows(steps=20) + _knn_rows())
    drawn = {}
    save = plots._save

    def spy(fig, path):
        drawn[Path(path).name] = [
            (ln.get_label(), ln.get_linestyle(), ln.get_color(), list(ln.get_ydata()))
            for ax in fig.axes
            for ln in ax.get_lines()
        ]
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    page = write_report(run, [], tmp_path / "out").read_text()
    sec = _section(page, "knn")
    assert 'src="train_knn.png"' in sec and "learns a shortcut instead of that label" in sec
    _check_png(tmp_path / "out" / "train_knn.png")
    lines = drawn["train_knn.png"]
    curves = {lab: (col, y) for lab, ls, col, y in lines if ls == "-" and lab in ("action", "appearance")}
    dashed = [(col, y) for lab, ls, col, y in lines if ls == "--" and len(y) == 2]
    assert set(curves) == {"action", "appearance"} and len(curves["action"][1]) == 5  # step 0 + 4 measurements
    for lab, base in (("action", 0.30), ("appearance", 0.55)):  # a dashed line of the curve's colour at knn0
        assert any(col == curves[lab][0] and np.allclose(y, base) for col, y in dashed), lab
    assert 'src="train_knn.png"' not in _section(page, "training")


def test_knn_step0_without_knn0_keys(tmp_path):
    rows = [{"step": s, "knn/action": 0.5 - s / 100} for s in (0, 10, 20)]  # an older run: no knn0/ keys
    assert plots.knn_labels(rows) == ["action"]
    assert plots.knn_figure(rows, tmp_path / "k.png") == tmp_path / "k.png"
    assert plots.knn_figure([{"step": 1, "loss": 1.0}], tmp_path / "none.png") is None


@pytest.mark.slow
def test_level_weights_section(tmp_path):
    run = _write_run(tmp_path / "run", [{**a, **b} for a, b in zip(_metrics_rows(steps=20), _level_rows())])
    page = write_report(run, [], tmp_path / "out").read_text()
    weights, training = _section(page, "weights"), _section(page, "training")
    for name in ("train_weights.png", "train_inv_ratio.png", "train_measures.png", "train_invariance.png"):
        assert f'src="{name}"' in weights and name not in training
        _check_png(tmp_path / "out" / name)
    assert "α_k" in weights and "β_k" in weights and "clip bites" in weights
    assert 'src="train_loss.png"' in training and 'src="train_level_losses.png"' in training
    assert "No knn/&lt;label&gt; keys" in _section(page, "knn")


def test_sections_without_inputs_are_notes(tmp_path):
    run = _write_run(tmp_path / "run", [{"step": s, "loss": 10.0 / s} for s in range(1, 20)])
    page = write_report(run, [], tmp_path / "out").read_text()
    assert "No L&lt;k&gt;/alpha" in _section(page, "weights")
    assert "kNN monitor was off" in _section(page, "knn")
    assert "No study folder given" in _section(page, "study")
    empty = tmp_path / "empty"
    empty.mkdir()
    page = write_report(empty, [], tmp_path / "out2").read_text()
    for sid in ("training", "knn", "weights"):
        assert "No metrics.jsonl in the run folder." in _section(page, sid)


def _cell(values, seeds):
    a = np.array(values)
    return {
        "video": values,
        "clip": [v - 0.05 for v in values],
        "seeds": seeds,
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
    }


def _write_study(path: Path) -> Path:
    path.mkdir(parents=True)
    seeds = [0, 1]
    rows = {
        "random": {
            "action": {"L1": _cell([0.30, 0.32], seeds), "L3": _cell([0.40, 0.44], seeds)},
            "appearance": {"L1": _cell([0.50, 0.52], seeds), "L3": _cell([0.45, 0.47], seeds)},
        },
        "hdc": {
            "action": {"L1": _cell([0.55, 0.57], seeds), "L3": _cell([0.70, 0.72], seeds)},
            "appearance": {"L1": _cell([0.60, 0.60], seeds), "L3": _cell([0.35, 0.37], seeds)},
        },
    }
    (path / "study.json").write_text(
        json.dumps(
            {
                "name": "nuisance",
                "description": "Does HDC learn the action rather than the appearance?",
                "data": "/data/scenes",
                "seeds": seeds,
                "labels": ["action", "appearance"],
                "num_clips": 4,
                "rows": rows,
                "notes": {"random": "untrained backbone", "hdc": ""},
                "configs": {r: {"config": ["demo"], "overrides": [], "random_init": r == "random"} for r in rows},
                "metric": "linear probe, video-level top-1 (mean of clip probabilities), mean ± std over seeds",
            }
        )
    )
    (path / "study.md").write_text("# Study `nuisance`\n")
    (path / "study.png").write_bytes(b"not the figure the report shows")
    return path


@pytest.mark.slow
def test_study_section(tmp_path):
    run = _write_run(tmp_path / "run", _metrics_rows(steps=5))
    study = _write_study(tmp_path / "study")
    ext = _write_extract(tmp_path / "extract")
    page = write_report(run, [study, ext], tmp_path / "out").read_text()
    sec = _section(page, "study")
    assert "nuisance" in sec and "Does HDC learn the action" in sec and "untrained backbone" in sec
    assert "<h4>action</h4>" in sec and "<h4>appearance</h4>" in sec
    assert "<th>L1</th><th>L3</th>" in sec
    assert "<b>0.710 ± 0.014</b>" in sec  # hdc / action: L3 is its best level
    assert "0.560 ± 0.014" in sec and "<b>0.560" not in sec
    assert "<b>0.600 ± 0.000</b>" in sec  # hdc / appearance: L1
    (png,) = (tmp_path / "out").glob("study_*.png")
    assert f'src="{png.name}"' in sec and 'src="study.png"' not in page
    _check_png(png)
    assert html.escape(str(study)) not in " ".join(re.findall(r"<li>.*?</li>", page))  # not an eval-dir warning
    assert "Feature extraction" in _section(page, "metrics")  # the other folder is still an eval folder


@pytest.mark.parametrize(
    "content, message", [("{not json", "unreadable"), ('{"rows": {"a": {"action": {}}}}', "no rows with a mean")]
)
def test_broken_study_is_a_warning(tmp_path, content, message):
    run = _write_run(tmp_path / "run", _metrics_rows(steps=5))
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "study.json").write_text(content)
    page = write_report(run, [tmp_path / "study"], tmp_path / "out").read_text()
    assert message in page and "No usable study folder" in _section(page, "study")
    assert not list((tmp_path / "out").glob("study_*.png"))


def test_report_help_mentions_study_folders():
    text = build_parser()._subparsers._group_actions[0].choices["report"].format_help()
    assert "study.json" in text and "hdc study" in text
