"""``hdc report``: the page, its figures and its robustness, on small fixtures in the eval-output
format of docs/ARCHITECTURE.md (real videos from the generator for the retrieval strips)."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hdc_video.cli import main
from hdc_video.data.indexes import open_index
from hdc_video.report import write_report
from hdc_video.report.plots import confusion_matrix, training_figures
from hdc_video.synth import generate_benchmark


def read_ucf101(root, split, subset):
    """The UCF101 split of ``root`` through the stable package-level ``open_index``."""
    return open_index(root, format="ucf101", split=split, subset=subset)


PROTO_LINEAR = (
    "split 1 test, 5 clips × 1 centre crop, 8 frames stride 2, 32 px, level -1, centred, <logistic regression>"
)
PROTO_RETR = "split 1 test queries vs train gallery, 5 clips × 1 crop, cosine similarity of centred L3 features"
PROTO_EXTRACT = "split 1 train+test, 5 clips × 1 crop, clip-averaged features of every level"


# ------------------------------------------------------------------------------------ fixtures
def _metrics_rows(steps=40, levels=3, sc=True, tc=True, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(1, steps + 1):
        r = {
            "step": s,
            "loss": 20 * np.exp(-s / 15) + rng.normal(0, 0.5) + 5,
            "lr": 1e-3 * min(1, s / 5),
            "grad_norm": float(rng.uniform(5, 50)),
            "epoch": s // 10,
            "clips_per_s": 40.0,
        }
        for k in range(1, levels + 1):
            if sc:
                r.update(
                    {
                        f"L{k}/sc_loss": 6 - s / 10 + rng.normal(0, 0.2),
                        f"L{k}/alpha": 1 / k,
                        f"L{k}/sc_pos_sim": 0.4 + s / 100,
                        f"L{k}/sc_invariance": 0.2 + s / 200 * k,
                    }
                )
            if tc:
                r.update(
                    {
                        f"L{k}/tc_loss": 4 - s / 20 + rng.normal(0, 0.2),
                        f"L{k}/beta": 1.0,
                        f"L{k}/tc_pos_sim": 0.5 + s / 100,
                        f"L{k}/tc_invariance": 0.3 + s / 200,
                    }
                )
        rows.append({k: (round(v, 6) if isinstance(v, float) else v) for k, v in r.items()})
    return rows


def _write_run(path: Path, rows) -> Path:
    path.mkdir(parents=True)
    (path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 4')  # torn tail
    (path / "config.yaml").write_text(
        "model:\n  backbone: r3d_18\n  width: 0.125\nmethod:\n  name: hdc\n"
        "  levels: [-3, -2, -1]\n  weighting: invariance\ntrain:\n  steps: 40\n"
    )
    return path


def _eval_meta(kind, protocol, random_init=False, **numbers):
    return {
        "kind": kind,
        "protocol": protocol,
        "checkpoint": None if random_init else "/runs/x/checkpoint.pt",
        "random_init": random_init,
        "backbone": "r3d_18",
        "width": 0.125,
        "data_root": "/data/bench",
        **numbers,
    }


def _write_extract(path: Path, n=30, seed=0, attributes=True, random_init=False) -> Path:
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    digits, motions = rng.integers(0, 3, n), rng.integers(0, 4, n)
    for lv, c in ((1, 8), (3, 16)):
        x = rng.normal(size=(n, c)) + np.eye(c)[digits] * 4 + np.eye(c)[motions + 4] * 2
        np.save(path / f"features_test_L{lv}.npy", x.astype(np.float32))
    with (path / "index_test.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["row", "path", "label", "class"] + (["appearance", "motion"] if attributes else []))
        for i in range(n):
            cls = f"Digit{digits[i]}M{motions[i]}"
            w.writerow(
                [i, f"{cls}/v_{cls}_g{i:02d}_c01.avi", int(digits[i] * 4 + motions[i]), cls]
                + ([f"digit{digits[i]}", f"motion{motions[i]}"] if attributes else [])
            )
    (path / "metrics.json").write_text(json.dumps(_eval_meta("extract", PROTO_EXTRACT, random_init, levels=[1, 3])))
    return path


def _write_linear(path: Path, index) -> Path:
    path.mkdir(parents=True)
    with (path / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "pred"])
        for i, e in enumerate(index):
            cls = index.classes[e.label]
            w.writerow([e.rel, cls, cls if i % 3 else index.classes[(e.label + 1) % index.num_classes]])
    (path / "metrics.json").write_text(
        json.dumps(
            _eval_meta(
                "linear",
                PROTO_LINEAR,
                top1_clip=0.61,
                top1_video=0.667,
                label="action",
                per_level={"L1": 0.3, "L3": 0.667},
            )
        )
    )
    return path


def _write_retrieve(path: Path, bench: Path, broken_rel: str | None = None) -> Path:
    path.mkdir(parents=True)
    test, train = read_ucf101(bench, 1, "test"), read_ucf101(bench, 1, "train")
    queries = []
    for q in test:
        order = sorted(train, key=lambda e: (e.label != q.label, e.rel))  # same class first
        nbs = [order[0].rel, order[-1].rel, order[1].rel, order[5].rel, order[-2].rel]
        if broken_rel:
            nbs[1] = broken_rel
        queries.append(
            {
                "path": q.rel,
                "label": test.classes[q.label],
                "neighbours": nbs,
                "correct": [n.split("/")[0] == test.classes[q.label] for n in nbs],
            }
        )
    (path / "neighbours.json").write_text(json.dumps({"data_root": str(bench), "split": 1, "queries": queries}))
    (path / "metrics.json").write_text(
        json.dumps(
            _eval_meta(
                "retrieve",
                PROTO_RETR,
                recall={"1": 0.5, "5": 0.7, "10": 0.8, "20": 0.9, "50": 1.0},
                recall_centred={"1": 0.5},
                recall_raw={"1": 0.4},
            )
        )
    )
    return path


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return generate_benchmark(
        tmp_path_factory.mktemp("rb") / "bench",
        digits=2,
        motions=5,
        videos_per_class=3,
        frames=8,
        size=32,
        workers=1,
        progress=False,
    )


@pytest.fixture(scope="module")
def full(tmp_path_factory, bench):
    """A run + an HDC and a random-init extract dir, a linear, a retrieve and two broken eval dirs."""
    tmp = tmp_path_factory.mktemp("report")
    run = _write_run(tmp / "run", _metrics_rows())
    broken = tmp / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    evals = [
        _write_extract(tmp / "extract_hdc"),
        _write_extract(tmp / "extract_rand", seed=1, random_init=True),
        _write_linear(tmp / "linear_action", read_ucf101(bench, 1, "test")),
        _write_retrieve(tmp / "retrieve", bench),
        broken,
        tmp / "does_not_exist",
    ]
    index = write_report(run, evals, tmp / "out")
    return index, index.read_text(encoding="utf-8"), evals


def _check_png(path: Path):
    assert path.is_file() and path.stat().st_size > 0, path
    with Image.open(path) as im:
        assert im.width > 100 and im.height > 100, (path, im.size)
        a = np.asarray(im.convert("RGB"))
    assert a.reshape(-1, 3).std(0).max() > 5, f"{path} is a flat colour"


# --------------------------------------------------------------------------------------- tests
@pytest.mark.slow
def test_page_references_every_png(full):
    index, page, _ = full
    assert index.name == "index.html" and index.is_file()
    refs = set(re.findall(r'src="([^"]+)"', page))
    written = {p.name for p in index.parent.glob("*.png")}
    assert refs == written
    for name in written:
        _check_png(index.parent / name)
    for expected in (
        "train_loss.png",
        "train_level_losses.png",
        "train_weights.png",
        "train_pos_sim.png",
        "train_invariance.png",
        "tsne.png",
    ):
        assert expected in written
    assert any(n.startswith("retrieval_") for n in written)
    assert any(n.startswith("confusion_") for n in written)


def test_tables_protocols_and_header(full):
    _, page, _ = full
    for proto in (PROTO_LINEAR, PROTO_RETR, PROTO_EXTRACT):
        assert html.escape(proto) in page
    for heading in ("Linear probe", "Video retrieval", "Feature extraction"):
        assert heading in page
    assert "66.7%" in page and "R@5" in page and "70.0%" in page  # linear top-1 video, recall@5
    assert "random init" in page and "test L1 30×8, L3 30×16" in page  # extract: its feature files
    assert "r3d_18" in page and "40 planned" in page and "/data/bench" in page  # header: config + data root


def test_broken_eval_dirs_are_warnings(full):
    _, page, evals = full
    assert 'class="warn"' in page
    assert html.escape(str(evals[4] / "metrics.json")) in page  # unreadable JSON, no known files
    assert html.escape(str(evals[5])) in page and "not found" in page
    assert "skipped 1 unreadable line" in page  # the torn last line of metrics.jsonl


@pytest.mark.slow
def test_undecodable_video_is_grey_placeholder(tmp_path, bench):
    bad = bench / "videos" / "Digit0Fall" / "v_broken_c01.avi"
    bad.write_bytes(b"not a video at all" * 10)
    try:
        run = _write_run(tmp_path / "run", _metrics_rows(steps=5))
        retr = _write_retrieve(tmp_path / "retrieve", bench, broken_rel="Digit0Fall/v_broken_c01.avi")
        index = write_report(run, [retr], tmp_path / "out")
    finally:
        bad.unlink()
    page = index.read_text()
    assert "could not be decoded" in page and "v_broken_c01.avi" in page
    pngs = list((tmp_path / "out").glob("retrieval_*.png"))
    assert len(pngs) == 1
    _check_png(pngs[0])


def test_missing_keys_skip_panels(tmp_path):
    names = lambda rows: [p.name for p, _ in training_figures(rows, tmp_path)]  # noqa: E731
    assert names(_metrics_rows(steps=10, tc=False)) == [
        "train_loss.png",
        "train_level_losses.png",
        "train_weights.png",
        "train_pos_sim.png",
        "train_invariance.png",
    ]
    only_loss = [{"step": s, "loss": 10.0 / s} for s in range(1, 20)]
    assert names(only_loss) == ["train_loss.png"]
    sc_small = Image.open(tmp_path / "train_loss.png").size
    assert sc_small[0] > 100


def test_tsne_falls_back_to_class_and_run_without_metrics(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    ext = _write_extract(tmp_path / "extract", attributes=False)
    index = write_report(run, [ext])  # default out: RUN/report
    assert index == run / "report" / "index.html"
    page = index.read_text()
    assert "metrics.jsonl: not found" in page
    assert 'src="tsne.png"' in page
    _check_png(run / "report" / "tsne.png")


def test_confusion_matrix_rows_normalised():
    classes, m = confusion_matrix(["a", "a", "b", "b", "b", "c10", "c2"], ["a", "b", "b", "b", "a", "c10", "c2"])
    assert classes == ["a", "b", "c10", "c2"]  # the order of the true labels (the split's class order)
    np.testing.assert_allclose(m.sum(1), 1.0)
    np.testing.assert_allclose(m[0], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(m[1], [1 / 3, 2 / 3, 0, 0])
    classes, m = confusion_matrix(["b", "a"], ["b", "z"])  # a predicted-only class is a column too
    assert classes == ["b", "a", "z"] and m.shape == (3, 3) and m[2].sum() == 0


@pytest.mark.slow
def test_cli(tmp_path, capsys, bench):
    run = _write_run(tmp_path / "run", _metrics_rows(steps=6, levels=2))
    lin = _write_linear(tmp_path / "lin", read_ucf101(bench, 1, "test"))
    assert main(["report", str(run), str(lin), str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 0
    assert "report written to" in capsys.readouterr().out
    page = (tmp_path / "o" / "index.html").read_text()
    assert html.escape(PROTO_LINEAR) in page and "nope" in page
    assert main(["report", str(tmp_path / "no_run")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hdc: error:") and "run folder not found" in err and "Traceback" not in err
