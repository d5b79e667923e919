"""Transforms: clip pixels to normalised views. :mod:`.functional` holds the deterministic kernels,
:mod:`.augment` the random training augmentation (draw, then apply), :mod:`.eval` the evaluation
crops and :mod:`.device` the split of pretraining augmentation between loader workers and the GPU."""
