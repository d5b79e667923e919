"""Sampling: which frames of a video make its clips (:mod:`.clips`) and which videos, with which
seeds, make each batch of an epoch (:mod:`.videos`)."""
