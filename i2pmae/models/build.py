"""``build_model``: any network from the ``model:`` section of a YAML config."""

from __future__ import annotations

import inspect
import logging
from typing import Any, Mapping

from torch import nn

from .classifier import I2PMAEClassifier
from .i2pmae import I2PMAE
from .segmentation import I2PMAESegmentation

log = logging.getLogger("i2pmae")

MODELS: dict[str, type[nn.Module]] = {
    "I2PMAE": I2PMAE,
    "I2PMAEClassifier": I2PMAEClassifier,
    "I2PMAESegmentation": I2PMAESegmentation,
}


def _accepted(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "teacher")]


def build_model(model_cfg: Mapping[str, Any], teacher: nn.Module | None = None) -> nn.Module:
    """Build ``model_cfg['name']`` with the other keys as constructor arguments.

    ``teacher`` (a frozen 2D model) is given to ``I2PMAE`` only; the downstream networks need none.
    """
    if not isinstance(model_cfg, Mapping) or "name" not in model_cfg:
        raise ValueError(f"the model config needs a 'name' among {sorted(MODELS)}; received {model_cfg!r}")
    kwargs = dict(model_cfg)
    name = kwargs.pop("name")
    if name not in MODELS:
        raise ValueError(f"unknown model name {name!r}; expected one of {sorted(MODELS)}")
    cls = MODELS[name]
    unknown = sorted(set(kwargs) - set(_accepted(cls)))
    if unknown:
        raise ValueError(f"model {name}: unknown config keys {unknown}; accepted keys: {_accepted(cls)}")
    if cls is I2PMAE:
        return cls(teacher=teacher, **kwargs)
    if teacher is not None:
        log.debug("build_model: %s needs no 2D teacher; the one given is not used", name)
    return cls(**kwargs)
