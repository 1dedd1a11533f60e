"""The I2P-MAE networks: pre-training (``I2PMAE``), classification, part segmentation."""

from .build import MODELS, build_model
from .checkpoint import as_state_dict, count_parameters, load_matching, strip_module_prefix
from .classifier import I2PMAEClassifier, smoothed_cross_entropy
from .encoder import HierarchicalEncoder
from .i2pmae import I2PMAE, pool_tokens
from .segmentation import I2PMAESegmentation
from .tokenizer import Scale, multi_scale_tokens

__all__ = [
    "MODELS",
    "HierarchicalEncoder",
    "I2PMAE",
    "I2PMAEClassifier",
    "I2PMAESegmentation",
    "Scale",
    "as_state_dict",
    "build_model",
    "count_parameters",
    "load_matching",
    "multi_scale_tokens",
    "pool_tokens",
    "smoothed_cross_entropy",
    "strip_module_prefix",
]
