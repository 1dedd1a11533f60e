"""Every config key the package reads, in one place, so typos and wrong types fail before any work.

**Adding a key is one line** in ``SCHEMA`` below: ``"section": {"key": "type"}``. Types are ``|``-separated
alternatives of ``int``, ``float`` (an int is accepted), ``bool``, ``str``, ``list``, ``map``, ``null``,
``any``, or quoted literals such as ``'epoch'|'step'``. A section whose type is a string rather than a dict
is a single value (``pretrained``). Three mappings are checked against the code that consumes them, so
they never need listing here: ``model`` (the keyword arguments of the model class named by
``model.name``), ``data.dataset``, ``data.svm`` and ``data.unseen`` (the options of the dataset format), and
``teacher.name`` (the registered 2D teachers).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Iterable, Mapping

SCHEMA: dict[str, Any] = {
    "model": "map",  # keys: the model class's constructor arguments (checked in _check_model)
    "pretrained": "str|null",
    "teacher": {
        "name": "str",
        "weights": "str|null",
        "dtype": "'auto'|'fp16'|'bf16'|'fp32'",
        "arch_overrides": "map|null",
        "cache": "str|null",  # a teacher-cache directory (`i2pmae teacher cache`), null = online teacher
    },
    "data": {
        "root": "str",  # quickstart: where the procedural shapes are generated
        "npoints": "int",
        "point_all": "int|null",
        "trainval": "bool",
        "dataset": "map",  # keys: the format's options (checked in _check_dataset)
        "svm": "map|null",
        "unseen": "map|null",  # the unseen-family transfer test of table1: {format: procedural, unseen: true, ...}
    },
    "augment": {"train": "list|str|null"},
    "train": {
        "epochs": "int",
        "batch_size": "int",
        "accum_steps": "int",
        "lr": "float",
        "weight_decay": "float",
        "warmup_epochs": "float",
        "cosine_epochs": "float|null",
        "warmup_lr": "float",
        "min_lr": "float",
        "lr_schedule": "'epoch'|'step'",
        "grad_clip": "float|null",
        "amp": "'auto'|'bf16'|'fp16'|'fp32'|'none'|'off'|bool|null",
        "compile": "bool",  # torch.compile on the heavy parts (engine/compile.py); default false
        "num_workers": "int",
        "seed": "int",
        "eval_every": "int|null",
        "checkpoint_every_steps": "int|null",
        "max_steps": "int|null",
        "log_every": "int|null",
        "shuffle": "bool",
        "sync_bn": "bool",
        "find_unused_parameters": "bool",
        "optimizer": "'adamw'|'sgd'",
        "betas": "list",
        "eps": "float",
        "momentum": "float",
        "no_decay": "list|null",
    },
    "svm": {
        "C": "float|str",  # a number, or cv
        "batch_size": "int",
        "num_workers": "int",
        "grid": "list|null",  # engineer C (issue 15): the C values cv chooses from
        "standardize": "bool|null",
        "bn_statistics": "'debiased'|'saved'|'recalibrated'|null",  # issue 15, see tasks/svm_eval.probe_encoder
    },
    "evaluate": {"votes": "int", "vote_repeats": "int", "batch_size": "int"},
    "fewshot": {"settings": "list", "folds": "list"},
    "synth": {"per_class": "int", "test_per_class": "int|null", "seed": "int"},
}


def _matches(value: Any, alternative: str) -> bool:
    alt = alternative.strip()
    if alt.startswith("'") and alt.endswith("'"):
        return isinstance(value, str) and value.lower() == alt[1:-1]
    checks = {
        "any": lambda v: True,
        "null": lambda v: v is None,
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "str": lambda v: isinstance(v, str),
        "list": lambda v: isinstance(v, (list, tuple)),
        "map": lambda v: isinstance(v, Mapping),
    }
    if alt not in checks:
        raise KeyError(f"schema type {alt!r} is not one of {sorted(checks)} or a quoted literal")
    return checks[alt](value)


def _type_ok(value: Any, spec: str) -> bool:
    return any(_matches(value, alt) for alt in spec.split("|"))


def _describe(spec: str) -> str:
    words = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text", "list": "a list",
             "map": "a mapping", "null": "null"}
    return " or ".join(words.get(a, a) for a in spec.split("|"))


def _closest(key: str, known: Iterable[str], cutoff: float = 0.6) -> str:
    known = list(known)
    same_case = [k for k in known if k.lower() == key.lower()]
    near = same_case or difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
    return f"; did you mean {near[0]!r}?" if near else ""


def _unknown(path: str, key: str, known: Iterable[str]) -> str:
    known = sorted(known)
    return f"unknown key {path + key!r}{_closest(key, known)} (known: {', '.join(known)})"


def config_problems(cfg: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(dotted key, problem) for every unknown key and wrong type in ``cfg``; empty when it is valid."""
    problems: list[tuple[str, str]] = []
    for top, value in cfg.items():
        if top not in SCHEMA:
            problems.append((top, _unknown("", top, SCHEMA)))
            continue
        spec = SCHEMA[top]
        if top == "model" and isinstance(value, Mapping):
            problems += _check_model(value)
            continue
        if isinstance(spec, str):
            if not _type_ok(value, spec):
                problems.append((top, f"{top!r} must be {_describe(spec)}, got {value!r}"))
            continue
        if value is None:
            continue
        if not isinstance(value, Mapping):
            problems.append((top, f"{top!r} must be a mapping of keys, got {value!r}"))
            continue
        for key, sub in value.items():
            dotted = f"{top}.{key}"
            if key not in spec:
                problems.append((dotted, _unknown(f"{top}.", str(key), spec)))
            elif not _type_ok(sub, spec[key]):
                problems.append((dotted, f"{dotted!r} must be {_describe(spec[key])}, got {sub!r}"))
            elif top == "data" and key in ("dataset", "svm", "unseen") and isinstance(sub, Mapping):
                problems += _check_dataset(dotted, sub)
            elif top == "teacher" and key == "name":
                problems += _check_teacher(sub)
    return problems


def _check_model(model: Mapping[str, Any]) -> list[tuple[str, str]]:
    from i2pmae.models.build import MODELS

    name = model.get("name")
    if name is None:
        return []  # some configs only override a key of their base's model; build_model asks for the name
    if name not in MODELS:
        return [("model.name", f"unknown model.name {name!r}{_closest(str(name), MODELS)} "
                 f"(known: {', '.join(sorted(MODELS))})")]
    accepted = [p for p in inspect.signature(MODELS[name].__init__).parameters if p not in ("self", "teacher")]
    return [(f"model.{k}", _unknown("model.", str(k), ["name", *accepted])) for k in model
            if k != "name" and k not in accepted]


def _check_dataset(where: str, ds: Mapping[str, Any]) -> list[tuple[str, str]]:
    from i2pmae.data import build as data_build

    if "format" not in ds:
        return []
    try:
        cls = data_build.dataset_class(ds["format"])
    except ValueError as exc:
        return [(f"{where}.format", str(exc))]
    generic = set(getattr(data_build, "GENERIC", ()))
    accepted = {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "split")} | generic
    return [(f"{where}.{k}", _unknown(f"{where}.", str(k), accepted)) for k in ds if k not in accepted]


def _check_teacher(name: Any) -> list[tuple[str, str]]:
    try:
        from i2pmae.teachers import available_teachers

        names = list(available_teachers())
    except ImportError:  # pragma: no cover - a teacher registry without the listing
        return []
    if name in names:
        return []
    return [("teacher.name", f"unknown teacher.name {name!r}{_closest(str(name), names, 0.45)} "
             f"(available: {', '.join(names)})")]
