"""``tiny-vit``: a small ViT the project trains itself on depth maps of procedural shapes.

It stands in for CLIP ViT-B/16 where no CLIP weights can be had (offline machines, CI) and behaves the
same way: a timm ``VisionTransformer`` (patch 16, 224 px, so a 14x14 grid) whose ``head`` is a linear
projection to ``feature_dim`` (like CLIP's visual projection), trained through a linear classifier on
top of the projected CLS token. As a teacher, features = patch tokens after the final norm and the
projection; attention = the last block's CLS attention (:mod:`i2pmae.teachers.vit`).

On disk: ``<stem>.safetensors`` (the classifier's state dict, fp16 by default to keep the asset a few
MB; it also carries the config as metadata) plus ``<stem>.json`` (format tag, config, class names).
The bundled copy lives at ``i2pmae/assets/teacher-tiny-vit.safetensors``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from i2pmae.teachers.vit import ViTTeacher
from i2pmae.teachers.weights import TeacherWeightsError, weights_hint

__all__ = [
    "TinyViTConfig",
    "TinyViTClassifier",
    "TinyViTTeacher",
    "build_tiny_vit_classifier",
    "save_tiny_vit",
    "load_tiny_vit",
    "bundled_tiny_vit_path",
    "build_tiny_vit_teacher",
    "write_weights_file",
    "read_weights_file",
]

FORMAT = "i2pmae.tiny-vit"
FORMAT_VERSION = 1
BUNDLED_NAME = "teacher-tiny-vit.safetensors"


@dataclass
class TinyViTConfig:
    """Architecture of the tiny ViT (everything needed to rebuild it from its weights)."""

    num_classes: int = 15
    img_size: int = 224
    patch_size: int = 16
    embed_dim: int = 192
    depth: int = 4
    num_heads: int = 3
    mlp_ratio: float = 4.0
    feature_dim: int = 128

    @classmethod
    def from_dict(cls, d: dict) -> "TinyViTConfig":
        return config_from_dict(cls, d, "tiny-vit")


class TinyViTClassifier(nn.Module):
    """timm ViT whose head projects the CLS token to ``feature_dim``, then a linear classifier."""

    def __init__(self, config: TinyViTConfig) -> None:
        super().__init__()
        from timm.models.vision_transformer import VisionTransformer

        if config.embed_dim % config.num_heads:
            raise ValueError(f"embed_dim {config.embed_dim} must be divisible by num_heads {config.num_heads}")
        self.config = config
        self.vit = VisionTransformer(
            img_size=config.img_size, patch_size=config.patch_size, embed_dim=config.embed_dim,
            depth=config.depth, num_heads=config.num_heads, mlp_ratio=config.mlp_ratio,
            num_classes=config.feature_dim, global_pool="token", class_token=True)
        self.classifier = nn.Linear(config.feature_dim, config.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes) of images (B, 3, S, S)."""
        return self.classifier(self.vit(images))


def build_tiny_vit_classifier(num_classes: int = 15, **config) -> TinyViTClassifier:
    """A randomly initialised tiny ViT classifier to train (keyword args: :class:`TinyViTConfig`)."""
    return TinyViTClassifier(TinyViTConfig.from_dict(dict(config, num_classes=num_classes)))


def config_from_dict(cls, d: dict, name: str):
    """``cls(**d)`` for a config dataclass, refusing unknown keys by name; JSON lists become tuples."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(f"unknown {name} config keys {unknown}; known: {sorted(known)}")
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _json_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_tiny_vit(model: TinyViTClassifier, path: str | Path, classes: list[str] | None = None,
                  meta: dict | None = None, dtype: torch.dtype = torch.float16) -> tuple[Path, Path]:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar; returns both paths."""
    return write_weights_file(model, path, FORMAT, classes, meta, dtype)


def load_tiny_vit(path: str | Path) -> tuple[TinyViTClassifier, dict]:
    """Classifier (float32, eval) and its JSON document (config, classes, meta) from ``path``."""
    return read_weights_file(path, FORMAT, lambda cfg: TinyViTClassifier(TinyViTConfig.from_dict(cfg)))


def write_weights_file(model: nn.Module, path: str | Path, fmt: str, classes: list[str] | None = None,
                       meta: dict | None = None, dtype: torch.dtype = torch.float16) -> tuple[Path, Path]:
    """The format of the project's own teachers: ``path`` (.safetensors, the classifier's state dict in
    ``dtype``, the document also in its metadata) and ``<stem>.json`` (format tag ``fmt``, ``model.config``,
    class names, meta)."""
    from safetensors.torch import save_file

    path = Path(path)
    name = fmt.split(".", 1)[-1]
    if path.suffix != ".safetensors":
        raise ValueError(f"{name} weights must be saved as .safetensors; received {path}")
    if classes is not None and len(classes) != model.config.num_classes:
        raise ValueError(f"{len(classes)} class names for a {model.config.num_classes}-class model")
    doc = {"format": fmt, "version": FORMAT_VERSION, "config": asdict(model.config),
           "classes": list(classes) if classes is not None else None, "meta": meta or {}}
    tensors = {k: v.detach().to("cpu", dtype if v.is_floating_point() else v.dtype).contiguous()
               for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"i2pmae": json.dumps(doc)})
    _json_path(path).write_text(json.dumps(doc, indent=2) + "\n")
    return path, _json_path(path)


def _read_doc(path: Path, fmt: str) -> dict:
    side = _json_path(path)
    if side.is_file():
        doc = json.loads(side.read_text())
    else:  # fall back on the copy in the safetensors metadata
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        if "i2pmae" not in meta:
            raise FileNotFoundError(f"{path}: {fmt.split('.', 1)[-1]} config not found: neither {side} nor "
                                    "safetensors metadata 'i2pmae' exist")
        doc = json.loads(meta["i2pmae"])
    if doc.get("format") != fmt:
        raise ValueError(f"{path}: expected a {fmt!r} config, received format {doc.get('format')!r}")
    return doc


def read_weights_file(path: str | Path, fmt: str, build) -> tuple[nn.Module, dict]:
    """Model (float32, eval; ``build(config dict)`` makes it) and its JSON document from ``path``."""
    from safetensors.torch import load_file

    name = fmt.split(".", 1)[-1]
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{name} weights file not found: {path}")
    if path.suffix != ".safetensors":
        raise ValueError(f"{name} weights must be a .safetensors file (+ .json config); received {path}")
    doc = _read_doc(path, fmt)
    model = build(doc["config"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(path)).items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"{path}: weights do not match its {name} config: {e}") from e
    return model.eval(), doc


def bundled_tiny_vit_path() -> Path:
    """Where the bundled tiny-vit weights live inside the installed package (may not exist)."""
    return Path(str(resources.files("i2pmae").joinpath("assets", BUNDLED_NAME)))


class TinyViTTeacher(ViTTeacher):
    """The tiny ViT as a teacher (its classifier is dropped; features are ``feature_dim`` wide)."""

    def __init__(self, classifier: TinyViTClassifier, name: str = "tiny-vit",
                 compute_dtype: torch.dtype = torch.float32, classes: list[str] | None = None) -> None:
        super().__init__(classifier.vit, name, project=True, compute_dtype=compute_dtype)
        self.config = classifier.config
        self.classes = classes


def build_tiny_vit_teacher(weights: str | Path | None, compute_dtype: torch.dtype,
                           arch_overrides: dict | None = None) -> TinyViTTeacher:
    """``weights``: None = the bundled asset, ``"random"`` = untrained (config + ``arch_overrides``),
    else a .safetensors path with its .json sidecar."""
    if weights == "random":
        clf = TinyViTClassifier(TinyViTConfig.from_dict(dict(arch_overrides or {})))
        return TinyViTTeacher(clf, compute_dtype=compute_dtype)
    if arch_overrides:
        raise ValueError("arch_overrides only apply to weights='random' for tiny-vit; a weights file "
                         "carries its own config")
    if weights is None:
        path = bundled_tiny_vit_path()
        if not path.is_file():
            raise TeacherWeightsError(
                f"no weights for 2D teacher 'tiny-vit': the bundled file {path} is absent (it is produced by "
                f"training the tiny ViT on procedural shapes). {weights_hint(tiny=True)}")
    else:
        path = Path(weights)
    clf, doc = load_tiny_vit(path)
    return TinyViTTeacher(clf, compute_dtype=compute_dtype, classes=doc.get("classes"))
