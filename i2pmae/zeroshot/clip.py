"""CLIP with both towers (image and text) for zero-shot classification, built on open_clip.

Zero-shot needs CLIP's *embeddings*: the image tower's CLS token after ``ln_post`` and the visual
projection, and the text tower's end-of-text token after ``ln_final`` and ``text_projection``. The
CLIP teacher (``i2pmae.teachers``) uses the visual patch tokens instead and has no text tower, so
this module builds open_clip's ``CLIP`` (OpenAI's architecture, QuickGELU) from the weights' shapes.

Weights, in the order :func:`load_clip` tries them when none are given (never silently random):
1. OpenAI's archive ``ViT-B-16.pt`` in ``~/.cache/clip`` (``$I2PMAE_CLIP_CACHE``), which holds both towers;
2. the open_clip files of the Hugging Face hub model ``timm/vit_base_patch16_clip_224.openai``
   (``open_clip_model.safetensors``, ``open_clip_pytorch_model.bin``) from the cache, downloaded when online.
A file (``--teacher-weights PATH``) may be OpenAI's archive, an open_clip checkpoint (``state_dict``
under ``state_dict``, ``module.`` stripped) or a ``.safetensors`` with OpenAI/open_clip names.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from i2pmae.teachers.weights import (
    TeacherWeightsError,
    hub_cache_dir,
    hub_offline,
    load_state_dict_file,
    openai_clip_cache_dir,
)

__all__ = ["CLIP_ARCHIVE", "CLIP_HUB_ID", "CLIP_HUB_FILES", "clip_from_state_dict", "load_clip", "clip_weights_hint"]

CLIP_ARCHIVE = "ViT-B-16.pt"
CLIP_HUB_ID = "timm/vit_base_patch16_clip_224.openai"
CLIP_HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_META_KEYS = ("input_resolution", "context_length", "vocab_size")
_HEAD_WIDTH = 64  # OpenAI's CLIPs all use 64-wide attention heads


def clip_weights_hint() -> str:
    return ("Pass CLIP's weights with `--teacher-weights PATH` (OpenAI's ViT-B-16.pt archive, an open_clip "
            "checkpoint or a .safetensors holding both the image and the text tower), or run once online to "
            "fill the Hugging Face cache.")


def _layers(sd: dict[str, torch.Tensor], prefix: str) -> int:
    return len({k[len(prefix):].split(".")[0] for k in sd if k.startswith(prefix)})


def clip_from_state_dict(state_dict: dict[str, torch.Tensor], source: str = "CLIP weights") -> nn.Module:
    """open_clip's ``CLIP`` (ViT image tower, QuickGELU) sized from an OpenAI-named state dict and
    loaded strictly, in float32 and eval mode, without gradients."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    sd = {k: v for k, v in state_dict.items() if k not in _META_KEYS}
    need = ("visual.conv1.weight", "visual.positional_embedding", "visual.proj", "token_embedding.weight",
            "positional_embedding", "ln_final.weight", "text_projection")
    absent = [k for k in need if k not in sd]
    if absent:
        what = "a ViT image tower" if any(k.startswith("visual.") for k in absent) else "the text tower"
        raise ValueError(f"{source}: not a CLIP ViT checkpoint with both towers (lacks {what}: {absent[:4]}); "
                         f"zero-shot classification needs the image and the text tower. {clip_weights_hint()}")
    conv = sd["visual.conv1.weight"]
    patch, vision_width = conv.shape[-1], conv.shape[0]
    grid = round((sd["visual.positional_embedding"].shape[0] - 1) ** 0.5)
    text_width = sd["ln_final.weight"].shape[0]
    vision = CLIPVisionCfg(layers=_layers(sd, "visual.transformer.resblocks."), width=vision_width,
                           head_width=_HEAD_WIDTH, patch_size=patch, image_size=patch * grid)
    text = CLIPTextCfg(context_length=sd["positional_embedding"].shape[0],
                       vocab_size=sd["token_embedding.weight"].shape[0], width=text_width,
                       heads=max(text_width // _HEAD_WIDTH, 1), layers=_layers(sd, "transformer.resblocks."))
    model = CLIP(sd["text_projection"].shape[1], vision_cfg=vision, text_cfg=text, quick_gelu=True)
    own = model.state_dict()
    bad = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in sd.items()
           if k in own and tuple(v.shape) != tuple(own[k].shape)]
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if bad or missing or unexpected:
        raise ValueError(f"{source}: does not match OpenAI's CLIP ViT layout: {len(missing)} missing keys "
                         f"{missing[:4]}, {len(unexpected)} unexpected keys {unexpected[:4]}, "
                         f"shape mismatches {bad[:3]}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in sd.items()})
    model.float().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _hub_state_dict() -> tuple[dict[str, torch.Tensor], str] | tuple[None, list[str]]:
    """open_clip's files of the OpenAI ViT-B/16 on the hub: (state dict, path) or (None, errors)."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:  # pragma: no cover - a dependency
        return None, ["huggingface_hub is not installed"]
    from i2pmae.teachers.weights import _hub_unreachable

    cache, errors = str(hub_cache_dir()), []
    for local_only in (True, False):
        if not local_only:
            if hub_offline():
                errors.append("HF_HUB_OFFLINE is set, no download tried")
                break
            why = _hub_unreachable()
            if why is not None:
                errors.append(f"no download possible: {why}")
                break
        for filename in CLIP_HUB_FILES:
            try:
                path = hf_hub_download(repo_id=CLIP_HUB_ID, filename=filename, cache_dir=cache,
                                       local_files_only=local_only)
            except Exception as e:  # noqa: BLE001 - not cached / not downloadable: try the next source
                errors.append(f"{filename}: {'not cached' if local_only else type(e).__name__}")
                continue
            return load_state_dict_file(path), path
    return None, errors


def load_clip(weights: str | os.PathLike | None = None, device: torch.device | str | None = None) -> nn.Module:
    """CLIP ViT-B/16 (both towers) on ``device``; ``weights`` None = the default sources (module docstring).

    Raises :class:`TeacherWeightsError` (a FileNotFoundError) naming every place looked at when nothing
    is found, FileNotFoundError for a missing file, ValueError for a file that is not a two-tower CLIP.
    """
    if weights is not None and str(weights) != "":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"CLIP weights file not found: {path}")
        return clip_from_state_dict(load_state_dict_file(path), str(path)).to(device or "cpu")
    archive = openai_clip_cache_dir() / CLIP_ARCHIVE
    if archive.is_file():
        return clip_from_state_dict(load_state_dict_file(archive), str(archive)).to(device or "cpu")
    sd, info = _hub_state_dict()
    if sd is not None:
        return clip_from_state_dict(sd, str(info)).to(device or "cpu")
    raise TeacherWeightsError(
        f"no CLIP weights for zero-shot classification: looked for OpenAI's archive {archive} and the open_clip "
        f"files {', '.join(CLIP_HUB_FILES)} of the Hugging Face model {CLIP_HUB_ID!r} in the cache {hub_cache_dir()} "
        f"({'; '.join(info)}). {clip_weights_hint()}")
