"""Typed configuration: the schema (:mod:`.schema`: dataclasses, choices, presets) and how a config
is built from defaults, YAML files and ``key=value`` overrides (:mod:`.build`)."""

from hdc_video.config.build import (build_config, build_finetune_config, changed_keys, config_search_path, load_yaml,
                                    merge, parse_override, resolve_config_file, validate, validate_distributed,
                                    validate_finetune)
from hdc_video.config.schema import (AUGMENT_PRESETS, CHOICES, FINETUNE_RESUMABLE, METHODS, RESUMABLE, WEIGHTINGS,
                                     Config, ConfigError, DataConfig, FinetuneConfig, MethodConfig, ModelConfig,
                                     TrainConfig)

__all__ = ["AUGMENT_PRESETS", "CHOICES", "FINETUNE_RESUMABLE", "METHODS", "RESUMABLE", "WEIGHTINGS", "Config",
           "ConfigError", "DataConfig", "FinetuneConfig", "MethodConfig", "ModelConfig", "TrainConfig", "build_config",
           "build_finetune_config", "changed_keys", "config_search_path", "load_yaml", "merge", "parse_override",
           "resolve_config_file", "validate", "validate_distributed", "validate_finetune"]
