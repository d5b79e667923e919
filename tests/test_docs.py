"""The docs match the code: every module, function or file path the README, docs/ and the code's own
docstrings name exists, and every config key they name is a key of the schema."""

from __future__ import annotations

import dataclasses
import importlib
import re
from pathlib import Path

import pytest

from hdc_video.config import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SOURCES = sorted((ROOT / "src" / "hdc_video").rglob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py"))
CONFIGS = sorted((ROOT / "src" / "hdc_video" / "configs").rglob("*.yaml"))
DOTTED = re.compile(r"(?<![\w./])hdc_video(?:\.[A-Za-z_]\w*)+")
PATHS = re.compile(r"(?<![\w./])(?:src/)?hdc_video/[\w/]+(?:\.py)?")
KEYS = re.compile(r"`((?:data|method|train|model)\.[a-z_]+)(?![\w.])")
NOT_KEYS = {"model.fc"}  # torchvision's classifier attribute, named where export is explained


def _resolves(dotted: str) -> bool:
    """``hdc_video.a.b.c``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(obj, name):
                return False
            obj = getattr(obj, name)
        return True
    return False


def _schema_keys() -> set[str]:
    return {
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(Config)
        for f in dataclasses.fields(
            section.type if isinstance(section.type, type) else getattr(Config(), section.name).__class__
        )
    }


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, pos) + 1}"


@pytest.mark.parametrize("path", DOCS + SOURCES + CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_modules_files_and_keys_exist(path):
    text = path.read_text()
    bad = []
    for m in DOTTED.finditer(text):
        name = m.group(0).rstrip(".")
        if not _resolves(name):
            bad.append(f"{_where(path, text, m.start())}: {name} does not exist")
    for m in PATHS.finditer(text):
        rel = m.group(0).rstrip("/")
        target = ROOT / rel if rel.startswith("src/") else ROOT / "src" / rel
        if not target.exists():
            bad.append(f"{_where(path, text, m.start())}: {rel} does not exist")
    keys = _schema_keys()
    for m in KEYS.finditer(text):
        key = m.group(1)
        section, name = key.split(".")
        if key in NOT_KEYS or name in ("csv", "txt", "json", "yaml"):  # a file name, not a key
            continue
        if key not in keys and not (ROOT / "src" / "hdc_video" / section / name).exists():
            bad.append(f"{_where(path, text, m.start())}: config key {key} is not in the schema")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_no_unfilled_placeholder(doc):
    """A number still to be measured is written as ``{{NAME}}`` while a document is drafted; none may
    reach main."""
    left = re.findall(r"\{\{[A-Za-z0-9_]+\}\}", doc.read_text())
    assert not left, f"{doc.name}: unfilled {left}"
