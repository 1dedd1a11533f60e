"""``tiny-cnn``: a small CNN the project trains itself on depth maps of procedural shapes.

Why a CNN: the bundled ``tiny-vit`` (trained from scratch for 40 CPU-minutes) stopped at 18% training
accuracy and its features score below random 3D features, so it had nothing to teach (issue 21). A
convolutional network learns these depth maps far faster per CPU-second. It is shaped like CLIP's
ResNet-50 in miniature, so it is used exactly as the ``clip-rn50`` teacher is
(:class:`i2pmae.teachers.cnn.ClipResNetTeacher`):

- a 4x4 stride-4 "patchify" stem (cheap at 224 px), four stages of basic residual blocks (strides
  1, 2, 2, 2), so a 224-px map ends as a 7x7 grid;
- an attention pool (timm ``AttentionPool2d``; the query is the spatial mean token) projecting to
  ``feature_dim``, then a linear classifier. It is trained to classify the depth maps.

As a teacher: features = the last-stage map (``channels[-1]`` x 7 x 7), attention = the attention
pool's query weights over the positions. On disk: ``<stem>.safetensors`` + ``<stem>.json`` (format tag
``i2pmae.tiny-cnn``), as for ``tiny-vit`` (:mod:`i2pmae.teachers.tiny`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from i2pmae.teachers.cnn import ClipResNetTeacher
from i2pmae.teachers.tiny import config_from_dict, read_weights_file, write_weights_file
from i2pmae.teachers.weights import TeacherWeightsError, weights_hint

__all__ = ["TinyCNNConfig", "TinyCNNClassifier", "build_tiny_cnn_classifier", "save_tiny_cnn", "load_tiny_cnn",
           "bundled_tiny_cnn_path", "build_tiny_cnn_teacher"]

FORMAT = "i2pmae.tiny-cnn"
BUNDLED_NAME = "teacher-tiny-cnn.safetensors"


@dataclass
class TinyCNNConfig:
    """Architecture of the tiny CNN (everything needed to rebuild it from its weights)."""

    num_classes: int = 28
    img_size: int = 224
    stem: int = 4
    channels: tuple[int, ...] = (32, 64, 128, 256)
    depths: tuple[int, ...] = (1, 1, 1, 1)
    feature_dim: int = 128
    num_heads: int = 4

    @classmethod
    def from_dict(cls, d: dict) -> "TinyCNNConfig":
        return config_from_dict(cls, d, "tiny-cnn")

    @property
    def reduction(self) -> int:
        return self.stem * 2 ** (len(self.channels) - 1)


class TinyCNNClassifier(nn.Module):
    """Patchify stem, residual stages, attention pool to ``feature_dim``, linear classifier."""

    def __init__(self, config: TinyCNNConfig) -> None:
        super().__init__()
        from timm.layers import AttentionPool2d
        from timm.models.resnet import BasicBlock

        if len(config.channels) != len(config.depths):
            raise ValueError(f"tiny-cnn: {len(config.channels)} channel widths for {len(config.depths)} stages")
        if config.img_size % config.reduction:
            raise ValueError(f"tiny-cnn: image size {config.img_size} is not a multiple of the stride {config.reduction}")
        self.config = config
        c0 = config.channels[0]
        self.stem = nn.Sequential(nn.Conv2d(3, c0, config.stem, config.stem, bias=False), nn.BatchNorm2d(c0),
                                  nn.ReLU(inplace=True))
        stages, cin = [], c0
        for i, (c, depth) in enumerate(zip(config.channels, config.depths)):
            blocks = []
            for j in range(depth):
                stride = 2 if i > 0 and j == 0 else 1
                down = None
                if stride != 1 or cin != c:
                    down = nn.Sequential(nn.Conv2d(cin, c, 1, stride, bias=False), nn.BatchNorm2d(c))
                blocks.append(BasicBlock(cin, c, stride=stride, downsample=down))
                cin = c
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = cin
        self.feature_info = [{"num_chs": cin, "reduction": config.reduction, "module": "stages"}]
        self.head = AttentionPool2d(cin, feat_size=config.img_size // config.reduction,
                                    out_features=config.feature_dim, num_heads=config.num_heads)
        self.classifier = nn.Linear(config.feature_dim, config.num_classes)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Last-stage map (B, channels[-1], h, w) of images (B, 3, S, S)."""
        return self.stages(self.stem(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_classes)."""
        return self.classifier(self.head(self.forward_features(images)))


def build_tiny_cnn_classifier(num_classes: int = 28, **config) -> TinyCNNClassifier:
    """A randomly initialised tiny CNN classifier to train (keyword args: :class:`TinyCNNConfig`)."""
    return TinyCNNClassifier(TinyCNNConfig.from_dict(dict(config, num_classes=num_classes)))


def save_tiny_cnn(model: TinyCNNClassifier, path: str | Path, classes: list[str] | None = None,
                  meta: dict | None = None, dtype: torch.dtype = torch.float16) -> tuple[Path, Path]:
    """Write ``path`` (.safetensors) and its ``.json`` sidecar; returns both paths."""
    return write_weights_file(model, path, FORMAT, classes, meta, dtype)


def load_tiny_cnn(path: str | Path) -> tuple[TinyCNNClassifier, dict]:
    """Classifier (float32, eval) and its JSON document (config, classes, meta) from ``path``."""
    return read_weights_file(path, FORMAT, lambda cfg: TinyCNNClassifier(TinyCNNConfig.from_dict(cfg)))


def bundled_tiny_cnn_path() -> Path:
    """Where the bundled tiny-cnn weights live inside the installed package (may not exist)."""
    from importlib import resources

    return Path(str(resources.files("i2pmae").joinpath("assets", BUNDLED_NAME)))


def build_tiny_cnn_teacher(weights: str | Path | None, compute_dtype: torch.dtype,
                           arch_overrides: dict | None = None) -> ClipResNetTeacher:
    """``weights``: None = the bundled asset, ``"random"`` = untrained (config + ``arch_overrides``),
    else a .safetensors path with its .json sidecar."""
    if weights == "random":
        clf = TinyCNNClassifier(TinyCNNConfig.from_dict(dict(arch_overrides or {})))
        classes = None
    else:
        if arch_overrides:
            raise ValueError("arch_overrides only apply to weights='random' for tiny-cnn; a weights file "
                             "carries its own config")
        path = bundled_tiny_cnn_path() if weights is None else Path(weights)
        if weights is None and not path.is_file():
            raise TeacherWeightsError(
                f"no weights for 2D teacher 'tiny-cnn': the bundled file {path} is absent (it is produced by "
                f"`i2pmae teacher train --corpus --arch tiny-cnn`). {weights_hint(tiny=True)}")
        clf, doc = load_tiny_cnn(path)
        classes = doc.get("classes")
    teacher = ClipResNetTeacher(clf, "tiny-cnn", image_size=clf.config.img_size, compute_dtype=compute_dtype)
    teacher.config, teacher.classes = clf.config, classes
    return teacher
