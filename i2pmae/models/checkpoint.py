"""Loading the authors' (and our) checkpoints into the networks, with the keys that did not match logged."""

from __future__ import annotations

import logging
from typing import Any, Mapping

from torch import Tensor, nn

log = logging.getLogger("i2pmae")

_WRAPPER_KEYS = ("base_model", "model", "state_dict")


def strip_module_prefix(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Drop one leading ``module.`` from every key (DataParallel / DDP checkpoints, docs/data.md §6.1)."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state_dict.items()}


def as_state_dict(obj: Mapping[str, Any]) -> dict[str, Tensor]:
    """A model state dict from either a state dict or a checkpoint dict holding one under
    ``base_model`` (the authors'), ``model`` or ``state_dict``; ``module.`` prefixes removed."""
    if not isinstance(obj, Mapping):
        raise ValueError(f"expected a state dict (a mapping of names to tensors); received {type(obj).__name__}")
    if not any(isinstance(v, Tensor) for v in obj.values()):
        for key in _WRAPPER_KEYS:
            if isinstance(obj.get(key), Mapping):
                return as_state_dict(obj[key])
        raise ValueError(f"no tensors found in the state dict; top-level keys: {sorted(obj)[:10]}")
    return strip_module_prefix(obj)


def load_matching(model: nn.Module, state_dict: Mapping[str, Any], what: str = "") -> tuple[list[str], list[str]]:
    """Load every key of ``state_dict`` that ``model`` has; returns (missing, unexpected) and logs both.

    A key present in both with a different shape means the model config does not match the
    checkpoint: that raises ValueError instead of being silently skipped.
    """
    state = as_state_dict(state_dict)
    own = model.state_dict()
    bad = [k for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    if bad:
        details = ", ".join(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in bad[:5])
        raise ValueError(f"{len(bad)} weights of the checkpoint have other shapes than {type(model).__name__} "
                         f"built from this config ({details}); check the model config")
    result = model.load_state_dict(state, strict=False)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    name = what or type(model).__name__
    log.info("%s: loaded %d of %d checkpoint tensors", name, len(state) - len(unexpected), len(state))
    if missing:
        log.info("%s: %d missing keys (kept at initialisation):\n  %s", name, len(missing), "\n  ".join(missing))
    if unexpected:
        log.info("%s: %d unexpected keys (ignored):\n  %s", name, len(unexpected), "\n  ".join(unexpected))
    return missing, unexpected


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
