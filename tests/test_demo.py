"""The demo's whole path (benchmark, HDC and whole pretraining, extract, probes, retrieval, report)
in --quick mode."""

import json

import pytest

from hdc_video.cli import main


@pytest.mark.slow
def test_quick_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "| motion (4 classes) | 0.250 |" in printed and "report:" in printed
    assert "| random init | whole | HDC |" in printed
    assert "verdicts (a difference under 0.29 is within what 12 test videos" in printed
    assert "HDC" in printed.split("verdicts")[1]
    summary = json.loads((out / "results.json").read_text())
    assert list(summary["results"]) == ["random init", "whole", "HDC"]
    for model in summary["results"]:
        for probe in ("appearance", "motion", "action"):
            assert 0.0 <= summary["results"][model][probe]["top1_video"] <= 1.0
        assert set(summary["results"][model]["retrieval"]["recall_raw"]) == {"1", "5", "10", "20", "50"}
    meta = json.loads((out / "bench" / "meta.json").read_text())["params"]
    assert meta["nuisance"] == "scene" and meta["glyphs"] == "shapes"
    assert json.loads((out / "whole" / "run.json").read_text())["start"]["config"]["method"]["name"] == "whole"
    html = (out / "report" / "index.html").read_text()
    assert "t-SNE" in html and "linear probe" in html and "train_knn.png" in html
    # a second run reuses the benchmark and both finished pretraining runs (nothing is rewritten)
    kept = {
        p: p.stat().st_mtime_ns
        for p in [out / "bench" / "meta.json", out / "hdc" / "checkpoint.pt", out / "whole" / "checkpoint.pt"]
    }
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    summary = json.loads((out / "results.json").read_text())
    assert summary["verdicts"] and all(" on " in v for v in summary["verdicts"])
