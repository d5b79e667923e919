"""Loading: the datasets that turn an index entry into training or evaluation tensors
(:mod:`.pretrain`, :mod:`.evaluation`, :mod:`.finetune`), the pretraining DataLoader, and what they
share (:mod:`.info`: the per-process ``info`` cache; :mod:`.skips`: broken-video accounting)."""
