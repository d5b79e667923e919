"""Whole jobs behind `hdc` commands: the demo (and its verdict), a study grid, verify (decode-check
every video) and prepare (re-encode for cheap random access)."""
