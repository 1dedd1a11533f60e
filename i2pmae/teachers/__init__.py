"""Frozen 2D teachers: depth maps (B,3,224,224) -> (features (B,C,h,w), attention (B,h,w)).

See ``i2pmae/teachers/README.md`` for the teachers, their feature sizes and attention definitions.
"""

from i2pmae.teachers.base import Teacher, cpu_native_bf16, resolve_dtype, saliency_attention
from i2pmae.teachers.cnn import ClipResNetTeacher, ResNetTeacher, attention_pool_weights
from i2pmae.teachers.registry import (
    TeacherSpec,
    available_teachers,
    build_teacher,
    load_teacher_state_dict,
    teacher_spec,
)
from i2pmae.teachers.swin import SwinTeacher
from i2pmae.teachers.tiny import (
    TinyViTClassifier,
    TinyViTConfig,
    TinyViTTeacher,
    build_tiny_vit_classifier,
    bundled_tiny_vit_path,
    load_tiny_vit,
    save_tiny_vit,
)
from i2pmae.teachers.tiny_cnn import (
    TinyCNNClassifier,
    TinyCNNConfig,
    build_tiny_cnn_classifier,
    bundled_tiny_cnn_path,
    load_tiny_cnn,
    save_tiny_cnn,
)
from i2pmae.teachers.vit import ViTTeacher, cls_attention
from i2pmae.teachers.weights import TeacherWeightsError, load_state_dict_file

__all__ = [
    "Teacher", "TeacherSpec", "TeacherWeightsError", "available_teachers", "build_teacher", "teacher_spec",
    "ViTTeacher", "ResNetTeacher", "ClipResNetTeacher", "SwinTeacher", "TinyViTTeacher",
    "TinyViTConfig", "TinyViTClassifier", "build_tiny_vit_classifier", "save_tiny_vit", "load_tiny_vit",
    "bundled_tiny_vit_path", "TinyCNNConfig", "TinyCNNClassifier", "build_tiny_cnn_classifier", "save_tiny_cnn",
    "load_tiny_cnn", "bundled_tiny_cnn_path", "cls_attention", "attention_pool_weights", "saliency_attention",
    "resolve_dtype", "cpu_native_bf16", "load_state_dict_file", "load_teacher_state_dict",
]
