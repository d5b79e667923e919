"""Whole-dataset workflows behind `hdc` commands: verify (decode-check every video) and prepare (re-encode)."""
