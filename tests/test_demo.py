"""The demo's whole path (benchmark, pretraining, extract, probes, retrieval, report) in --quick mode."""

import json

from hdc_video.cli import main


def test_quick_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    printed = capsys.readouterr().out
    assert "| motion (5 classes) | 0.200 |" in printed and "report:" in printed
    summary = json.loads((out / "results.json").read_text())
    for model in ("random init", "HDC"):
        for probe in ("appearance", "motion", "action"):
            assert 0.0 <= summary["results"][model][probe]["top1_video"] <= 1.0
        assert set(summary["results"][model]["retrieval"]["recall_raw"]) == {"1", "5", "10", "20", "50"}
    html = (out / "report" / "index.html").read_text()
    assert "t-SNE" in html and "linear probe" in html and (out / "hdc" / "checkpoint.pt").exists()
    # a second run reuses the benchmark and the finished pretraining run
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    assert json.loads((out / "results.json").read_text())["times"]["pretrain_s"] < 5
