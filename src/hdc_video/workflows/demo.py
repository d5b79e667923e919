"""``hdc demo``: the nuisance benchmark -> HDC and `whole` pretraining -> the same probes of HDC,
`whole` and a random-init network, one table and one report.

The benchmark carries the nuisances of real video (``nuisance="scene"``: every video its own
textured, coloured background and a panning camera; shapes as the appearance factor), so a recipe
that learns the background instead of the action shows it: the table puts HDC next to the
baseline it claims to beat (`whole`, same recipe, same steps) and next to no training at all, and
the report shows the kNN monitor's curves against their step-0 values.

Everything lands under one folder: ``bench/``, ``hdc/`` and ``whole/`` (the runs), ``eval/``
(features, probes, retrieval per model), ``report/``, ``results.json`` and ``results.md``.
Re-running resumes: the benchmark is reused and unfinished runs continue from their checkpoints.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

from hdc_video.checkpoint import load_checkpoint
from hdc_video.config import build_config
from hdc_video.data.loading import resolve_workers
from hdc_video.eval.source import FeatureSource
from hdc_video.report import write_report
from hdc_video.synth import generate_benchmark
from hdc_video.train.pretrain import pretrain
from hdc_video.workflows.verdict import margin, verdicts

log = logging.getLogger("hdc_video")

# 6 shapes x 5 motions x 16 videos (360 train, 120 test), 32 frames of 64^2, scene nuisances
BENCH = dict(
    digits=6,
    motions=5,
    videos_per_class=16,
    test_groups=4,
    frames=32,
    size=64,
    seed=0,
    nuisance="scene",
    glyphs="shapes",
)
# the demo recipe (configs/demo.yaml) for STEPS steps each: HDC, whole and the evaluation in 10 minutes
STEPS = 300
MONITOR = ["train.monitor_every=50"]
# --quick: the same path end to end in about a minute; its numbers mean nothing
QUICK_BENCH = dict(
    digits=3,
    motions=4,
    videos_per_class=4,
    test_groups=1,
    frames=24,
    size=48,
    seed=0,
    nuisance="scene",
    glyphs="shapes",
)
QUICK = [
    "model.width=0.125",
    "method.head_hidden=32",
    "method.head_dim=16",
    "data.clip_len=4",
    "data.size=32",
    "train.batch_size=8",
    "train.steps=6",
    "train.warmup_steps=2",
    "train.monitor_every=3",
    "train.monitor_videos=12",
]
PROBES = [("appearance", "appearance"), ("motion", "motion"), ("action", None)]
MODELS = (("HDC", "hdc", []), ("whole", "whole", ["method.name=whole", "train.monitor_every=0"]))
NUM_CLIPS = 4


def _bench(out: Path, spec: dict) -> Path:
    bench = out / "bench"
    meta = bench / "meta.json"
    if meta.exists() and all(json.loads(meta.read_text())["params"].get(k) == v for k, v in spec.items()):
        log.info("reusing the benchmark in %s", bench)
        return bench
    return generate_benchmark(bench, workers=2, overwrite=True, **spec)


def _pretrain(bench: Path, run: Path, config: str, overrides: list[str]) -> None:
    """A finished run is reused, an unfinished one resumed."""
    ckpt = run / "checkpoint.pt"
    if ckpt.exists():
        if load_checkpoint(ckpt)["step"] >= build_config([config], overrides).train.steps:
            log.info("reusing the finished pretraining run in %s", run)
            return
        pretrain(bench, run, [config], overrides, resume=True)
        return
    pretrain(bench, run, [config], overrides)


def _evaluate(tag: str, model: FeatureSource, bench: Path, out: Path, workers: int) -> dict[str, dict]:
    """One feature pass (``hdc extract``) per model, then every probe and the retrieval from the
    cached features — the same functions the commands run, so the demo's numbers are a user's."""
    from hdc_video.eval.extract import extract
    from hdc_video.eval.linear_probe import linear_probe
    from hdc_video.eval.retrieval import retrieve

    feats = out / "features"
    model.data, model.num_clips, model.workers = bench, NUM_CLIPS, workers
    extract(model, feats, labels=bench / "attributes.csv")
    cached = FeatureSource(features=feats)
    results = {
        name: linear_probe(
            cached, out / f"linear_{name}", labels=bench / "attributes.csv" if column else None, column=column
        )
        for name, column in PROBES
    }
    results["retrieval"] = retrieve(cached, out / "retrieve")
    log.info("%s: evaluation written to %s", tag, out)
    return results


def format_table(results: dict[str, dict[str, dict]]) -> str:
    models = list(results)
    head = "| linear probe, top-1 (video / clip) | chance | " + " | ".join(models) + " |"
    lines = [head, "|" + "---|" * (2 + len(models))]
    for name, _ in PROBES:
        first = results[models[0]][name]
        cells = [f"{results[m][name]['top1_video']:.3f} / {results[m][name]['top1_clip']:.3f}" for m in models]
        lines.append(f"| {name} ({first['classes']} classes) | {first['chance']:.3f} | " + " | ".join(cells) + " |")
    for k in ("1", "5"):
        cells = [f"{results[m]['retrieval']['recall_raw'][k]:.3f}" for m in models]
        lines.append(f"| action retrieval R@{k} (raw cosine) | | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_demo(
    out: Path, steps: int | None = None, config: str = "demo", overwrite: bool = False, quick: bool = False
) -> dict:
    out = Path(out)
    if overwrite and out.exists():
        if not ((out / "bench" / "meta.json").exists() or (out / "results.json").exists()):
            raise ValueError(f"{out} does not look like a demo folder; refusing to delete it (choose another --out)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    times = {}
    spec = QUICK_BENCH if quick else BENCH
    bench = _bench(out, spec)
    times["benchmark_s"] = time.perf_counter() - t0
    base = QUICK if quick else [f"train.steps={steps or STEPS}", *MONITOR]
    for tag, folder, extra in MODELS:
        t = time.perf_counter()
        _pretrain(bench, out / folder, config, base + extra)
        times[f"pretrain_{folder}_s"] = time.perf_counter() - t
    t = time.perf_counter()
    ckpt = out / "hdc" / "checkpoint.pt"
    cfg = build_config(base=load_checkpoint(ckpt)["config"])
    workers = resolve_workers(cfg.data.workers)
    results = {
        "random init": _evaluate(
            "random init",
            FeatureSource(checkpoint=ckpt, random_init=True, seed=cfg.train.seed),
            bench,
            out / "eval" / "random",
            workers,
        )
    }
    for tag, folder, _ in reversed(MODELS):
        results[tag] = _evaluate(
            tag, FeatureSource(checkpoint=out / folder / "checkpoint.pt"), bench, out / "eval" / folder, workers
        )
    times["evaluation_s"] = time.perf_counter() - t
    t = time.perf_counter()
    evals = [
        out / "eval" / m / d
        for m in ("hdc", "whole", "random")
        for d in ("features", "linear_motion", "linear_appearance", "linear_action", "retrieve")
    ]
    report = write_report(out / "hdc", evals, out / "report")
    times["report_s"] = time.perf_counter() - t
    times["total_s"] = time.perf_counter() - t0
    table = format_table(results)
    d = cfg.data
    protocol = (
        f"split 1 of the built-in nuisance benchmark ({spec['digits']} shapes x {spec['motions']} motions, "
        f"{spec['videos_per_class']} videos/class, scene nuisances); backbone {cfg.model.backbone} width "
        f"{cfg.model.width}; HDC and whole: the {config} recipe for {cfg.train.steps} steps each; "
        f"{NUM_CLIPS} clips x 1 centre crop, {d.clip_len} frames stride {d.stride}, {d.size}px; "
        f"last-stage features, logistic regression"
    )
    n_test = results["HDC"]["action"].get("test_videos") or spec["test_groups"] * spec["digits"] * spec["motions"]
    claims = verdicts(results, {tag: out / folder for tag, folder, _ in MODELS}, n_test)
    summary = {
        "results": results,
        "times": times,
        "protocol": protocol,
        "table": table,
        "verdicts": claims,
        "report": str(report),
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    said = "\n".join(f"* {c}" for c in claims)
    (out / "results.md").write_text(
        f"# hdc demo\n\n{protocol}\n\n{table}\n\n{said}\n\nwall time: {times['total_s']:.0f} s\n"
    )
    print()
    print(table)
    print(f"\nverdicts (a difference under {margin(n_test)} is within what {n_test} test videos can give by chance):")
    for c in claims:
        print(f"  {c}")
    print(f"\n{protocol}")
    print(
        f"wall time {times['total_s']:.0f} s (benchmark {times['benchmark_s']:.0f} s, HDC "
        f"{times['pretrain_hdc_s']:.0f} s, whole {times['pretrain_whole_s']:.0f} s, evaluation "
        f"{times['evaluation_s']:.0f} s, report {times['report_s']:.0f} s); everything is in {out}"
    )
    print(f"report: {report}")
    return summary
