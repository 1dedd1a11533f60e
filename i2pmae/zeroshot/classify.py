"""Zero-shot classification of projected depth maps with CLIP (supplementary section 5).

Each cloud is projected to its depth maps (docs/method.md §2, :func:`i2pmae.projection.project_views`), each map
is embedded by CLIP's image tower, each class by the mean of its prompts' text embeddings, and a view
votes for the class of highest cosine similarity; the multi-view prediction takes the mean of the
views' similarities. Everything runs batched (all views of a batch in one image-tower pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2pmae.projection import IMAGENET_MEAN, IMAGENET_STD, project_views

__all__ = ["DEFAULT_PROMPTS", "NORMALIZATIONS", "ZeroShotOutput", "classify", "depth_images", "encode_images",
           "encode_prompts", "prompt_texts"]

DEFAULT_PROMPTS = ("a depth map of a {}.",)
# CLIP's own preprocessing (what its zero-shot numbers assume) or ImageNet's (what the I2P-MAE authors feed
# the teacher; the maps come ImageNet-normalised from project_views).
NORMALIZATIONS = ("clip", "imagenet")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class ZeroShotOutput:
    """``similarity`` (B, V, C): cosine similarity of every view of every cloud to every class;
    ``view_predictions`` (B, V) argmax per view; ``predictions`` (B,) argmax of the view mean."""

    similarity: Tensor
    views: tuple[int, ...]

    @property
    def view_predictions(self) -> Tensor:
        return self.similarity.argmax(dim=-1)

    @property
    def predictions(self) -> Tensor:
        return self.similarity.mean(dim=1).argmax(dim=-1)


def _image_size(model: nn.Module) -> int:
    size = getattr(model.visual, "image_size", 224)
    return int(size[0] if isinstance(size, (tuple, list)) else size)


def depth_images(points: Tensor, views: Sequence[int] = (0, 1, 2), image_size: int = 224,
                 normalize: str = "clip") -> Tensor:
    """Depth maps (B, V, 3, S, S) of clouds (B, N, 3), normalised for CLIP (``"clip"``) or as the
    teachers see them (``"imagenet"``)."""
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}; received {normalize!r}")
    images, _ = project_views(points, tuple(views), image_size)
    if normalize == "clip":
        shape = (1, 1, 3, 1, 1)
        dev, dt = images.device, images.dtype
        raw = images * torch.tensor(IMAGENET_STD, device=dev, dtype=dt).view(shape) + \
            torch.tensor(IMAGENET_MEAN, device=dev, dtype=dt).view(shape)
        images = (raw - torch.tensor(CLIP_MEAN, device=dev, dtype=dt).view(shape)) / \
            torch.tensor(CLIP_STD, device=dev, dtype=dt).view(shape)
    return images


@torch.no_grad()
def encode_images(model: nn.Module, images: Tensor) -> Tensor:
    """Unit-norm CLIP image embeddings (N, D) of images (N, 3, S, S): CLS token after ln_post and proj."""
    p = next(model.parameters())
    return F.normalize(model.encode_image(images.to(device=p.device, dtype=p.dtype)).float(), dim=-1)


def prompt_texts(class_names: Sequence[str], prompts: Sequence[str] = DEFAULT_PROMPTS) -> list[list[str]]:
    """The prompts of every class (``{}`` replaced by the name, underscores as spaces)."""
    if not prompts:
        raise ValueError("give at least one prompt, e.g. 'a depth map of a {}.'")
    bad = [p for p in prompts if "{}" not in p]
    if bad:
        raise ValueError(f"every prompt needs a '{{}}' where the class name goes; received {bad[0]!r}")
    return [[p.replace("{}", name.replace("_", " ").strip()) for p in prompts] for name in class_names]


@torch.no_grad()
def encode_prompts(model: nn.Module, class_names: Sequence[str], prompts: Sequence[str] = DEFAULT_PROMPTS) -> Tensor:
    """Unit-norm class embeddings (C, D): the mean of each class's unit-norm prompt embeddings, re-normed
    (CLIP's prompt ensembling). Tokenised with open_clip's BPE tokenizer at the model's context length."""
    from open_clip import tokenize

    if not class_names:
        raise ValueError("no class names to classify into")
    texts = prompt_texts(class_names, prompts)
    flat = [t for group in texts for t in group]
    device = next(model.parameters()).device
    tokens = tokenize(flat, context_length=int(model.context_length)).to(device)
    emb = F.normalize(model.encode_text(tokens).float(), dim=-1).reshape(len(class_names), len(prompts), -1)
    return F.normalize(emb.mean(dim=1), dim=-1)


@torch.no_grad()
def classify(points: Tensor, class_names: Sequence[str] | None = None, model: nn.Module | None = None, *,
             weights: str | None = None, views: Sequence[int] = (0, 1, 2),
             prompts: Sequence[str] = DEFAULT_PROMPTS, normalize: str = "clip",
             text_features: Tensor | None = None, batch_size: int = 32,
             device: torch.device | str | None = None) -> ZeroShotOutput:
    """Zero-shot CLIP classification of clouds ``points`` (B, N, 3) into ``class_names``.

    ``model``: a CLIP from :func:`i2pmae.zeroshot.load_clip` (built from ``weights`` when None).
    ``text_features`` (C, D) skips the text tower (reuse :func:`encode_prompts` across batches).
    """
    from i2pmae.zeroshot.clip import load_clip

    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, N, 3); received {tuple(points.shape)}")
    if model is None:
        model = load_clip(weights, device)
    if text_features is None:
        if class_names is None:
            raise ValueError("give class_names (or text_features)")
        text_features = encode_prompts(model, class_names, prompts)
    dev = next(model.parameters()).device
    text_features = text_features.to(dev).float()
    views = tuple(int(v) for v in views)
    size = _image_size(model)
    sims = []
    for i in range(0, points.shape[0], max(int(batch_size), 1)):
        chunk = points[i:i + batch_size].to(dev).float()
        images = depth_images(chunk, views, size, normalize)  # (b, V, 3, S, S)
        b, v = images.shape[:2]
        emb = encode_images(model, images.reshape(b * v, *images.shape[2:]))
        sims.append((emb @ text_features.T).reshape(b, v, -1).cpu())
    return ZeroShotOutput(similarity=torch.cat(sims), views=views)
