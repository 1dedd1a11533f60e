"""Point-M2AE's released checkpoints (ZrrSkywalker/Point-M2AE) in this package's networks.

I2P-MAE's 3D network is Point-M2AE's plus the 2D head, so the checkpoints share every name and shape
(``h_encoder.*``, ``mask_token``, ``h_decoder.*``, ``decoder_pos_embeds.*``, ``token_prop.*``,
``decoder_norm``; fine-tuned: ``h_encoder.*``, ``norm``, ``cls_head_finetune.*``; segmentation under
``model_state_dict``). The differences, and what is done about them:

- ``rec_head.{weight,bias}`` (Conv1d 192 -> 3 x 16: 16 points per scale-2 token) has no counterpart
  (I2P-MAE's ``rec_head_3d`` predicts 3 x 8): an unexpected key, reported; no 2D head, so
  ``rec_head_2d`` is missing (only pre-training needs it).
- SVM features are the mean + max of the top-scale tokens: ``feature_pooling="add"``, chosen
  automatically for their pre-training checkpoints (an explicit ``model.feature_pooling`` wins);
  their C is 0.012 (ModelNet40) / 0.042 (OBJ-BG): ``configs/svm/point-m2ae-*.yaml``.
- ModelNet40 head: mean + max, k 16/8/8, radii 0.32/0.64/1.28, smoothing 0.3:
  ``configs/finetune/point-m2ae-modelnet40.yaml``.
- ScanObjectNN head: [mean of all tokens, max of tokens 1..63], k 32/16/16, radii 0.32/0.64/1.28 on
  every split: pooling ``"m2ae_concat"``, ``configs/finetune/point-m2ae-scan_*.yaml``.

Pre-training checkpoints are recognised by ``rec_head.weight`` without ``rec_head_3d.weight``;
fine-tuned ones cannot be told from I2P-MAE's by their keys (and need no conversion), only the
config (k, radii, pooling) differs.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

import torch
from torch import Tensor, nn

log = logging.getLogger("i2pmae")

__all__ = ["POINT_M2AE_ONLY_KEYS", "POINT_M2AE_SVM_POOLING", "is_point_m2ae_pretrain", "m2ae_concat_pool",
           "adapt_encoder_state"]

POINT_M2AE_ONLY_KEYS = ("rec_head.weight", "rec_head.bias")
POINT_M2AE_SVM_POOLING = "add"  # models/Point_M2AE.py: x_vis.mean(1) + x_vis.max(1)[0]


def is_point_m2ae_pretrain(state: Mapping[str, Any]) -> bool:
    """A Point-M2AE pre-training state dict (its 3D head ``rec_head``, no I2P-MAE ``rec_head_3d``)."""
    return "rec_head.weight" in state and "rec_head_3d.weight" not in state


def m2ae_concat_pool(x: Tensor) -> Tensor:
    """Point-M2AE's ScanObjectNN feature of tokens (B, G, C): [mean over all tokens, max over tokens 1..G-1]
    (their head skips token 0 in the max) -> (B, 2C)."""
    return torch.cat([x.mean(dim=1), x[:, 1:].amax(dim=1)], dim=-1)


def adapt_encoder_state(model: nn.Module, state: dict[str, Tensor], model_cfg: Mapping[str, Any] | None = None,
                        source: object = "checkpoint") -> dict[str, Tensor]:
    """For feature extraction (``svm``, ``embed``): recognise a Point-M2AE pre-training checkpoint, log it and
    its keys without a counterpart, and switch ``model`` to their SVM pooling (mean + max) unless the config
    sets ``feature_pooling``. Returns ``state`` unchanged (the names already match)."""
    if not is_point_m2ae_pretrain(state):
        return state
    extra = [k for k in state if k in POINT_M2AE_ONLY_KEYS]
    explicit = model_cfg is not None and model_cfg.get("feature_pooling") is not None
    if hasattr(model, "feature_pooling") and not explicit:
        model.feature_pooling = POINT_M2AE_SVM_POOLING
    log.info("%s: a Point-M2AE pre-training checkpoint; features pooled by %s%s; %d unexpected keys (ignored): %s",
             source, getattr(model, "feature_pooling", "?"),
             " (model.feature_pooling of the config)" if explicit else " (max + mean, as Point-M2AE's SVM)",
             len(extra), ", ".join(extra))
    return state
