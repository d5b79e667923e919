"""``hdc backbones``: list the registered backbones."""

from __future__ import annotations


def add_parser(sub) -> None:
    sub.add_parser("backbones", help="list the registered backbones")


def run(a) -> int:
    from hdc_video.models.registry import available_backbones

    print("\n".join(available_backbones()))
    return 0
