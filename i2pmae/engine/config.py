"""YAML experiment configs: shared bases, command-line overrides, shipped names.

A config file may name one or more parent files in ``_base_`` (paths relative
to the file, or shipped names); parents are deep-merged first and the child
wins, so experiment configs only state what differs. Overrides ``a.b.c=value``
are applied last; their values are parsed as YAML so ``3``, ``1e-4``, ``true``
and ``[1, 2]`` become numbers, booleans and lists.

PyYAML follows YAML 1.1, where ``1e-4`` (no dot) is a *string*; our loader also
reads such literals as floats, because configs are full of learning rates.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

BASE_KEY = "_base_"
_MISSING = object()


def _package_config_dirs() -> list[Path]:
    """Where shipped configs live: inside the package (``i2pmae/configs``), so a checkout and an
    installed wheel find the same files; ``configs/`` at a checkout's root is a link to it."""
    d = Path(__file__).resolve().parents[1] / "configs"
    return [d] if d.is_dir() else []


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads ``1e-4``-style literals as floats."""


_FLOAT_RE = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
# Replace SafeLoader's float resolver by one that also accepts exponents without a dot.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:float"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))


def parse_value(text: str) -> Any:
    """A command-line value as YAML (numbers, booleans, lists, null); plain text otherwise."""
    if text.strip() == "":
        return ""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError:
        return text


def resolve_config_path(name: str | os.PathLike, relative_to: Path | None = None) -> Path:
    """An existing file, a path relative to ``relative_to``, or a shipped name like ``pretrain/i2p-mae``."""
    raw = Path(name)
    candidates: list[Path] = []
    if relative_to is not None and not raw.is_absolute():
        candidates.append(relative_to / raw)
    candidates.append(raw)
    if not raw.is_absolute():
        for d in _package_config_dirs():
            candidates += [d / raw, d / f"{raw}.yaml", d / f"{raw}.yml"]
    for c in candidates:
        if c.is_file():
            return c
    shipped = sorted(shipped_configs())
    hint = f"; shipped configs: {', '.join(shipped)}" if shipped else ""
    raise FileNotFoundError(f"config {str(name)!r} is neither a file nor a shipped config name{hint}")


def shipped_configs() -> list[str]:
    """Names (``dir/stem``) of the configs shipped with the package."""
    names: set[str] = set()
    for d in _package_config_dirs():
        for f in d.rglob("*.y*ml"):
            names.add(f.relative_to(d).with_suffix("").as_posix())
    return sorted(names)


def deep_merge(base: Mapping, child: Mapping) -> dict:
    """A new dict: ``base`` updated recursively by ``child`` (child wins; lists are replaced, not merged)."""
    out = copy.deepcopy(dict(base))
    for key, value in child.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FileNotFoundError(f"cannot read config file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ValueError(f"config file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping at the top level, got {type(data).__name__}")
    return data


def _load_tree(path: Path, chain: tuple[Path, ...]) -> dict:
    path = path.resolve()
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise ValueError(f"config {path}: '{BASE_KEY}' forms a cycle: {cycle}")
    data = _read_yaml(path)
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    if isinstance(bases, (str, os.PathLike)):
        bases = [bases]
    if not isinstance(bases, list) or not all(isinstance(b, (str, os.PathLike)) for b in bases):
        raise ValueError(f"config {path}: '{BASE_KEY}' must be a path or a list of paths, got {bases!r}")
    merged: dict = {}
    for b in bases:
        try:
            base_path = resolve_config_path(b, relative_to=path.parent)
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"config {path}: '{BASE_KEY}' entry {b!r} not found ({exc})") from None
        merged = deep_merge(merged, _load_tree(base_path, (*chain, path)))
    return deep_merge(merged, data)


def set_value(cfg: dict, key: str, value: Any, source: str = "config") -> None:
    """Set ``cfg['a']['b']['c'] = value`` for key ``a.b.c``, creating missing mappings."""
    parts = key.split(".")
    if not key or any(p == "" for p in parts):
        raise ValueError(f"{source}: bad key {key!r}; expected dotted names such as train.lr")
    node = cfg
    for i, part in enumerate(parts[:-1]):
        nxt = node.get(part, _MISSING)
        if nxt is _MISSING or nxt is None:
            nxt = node[part] = {}
        elif not isinstance(nxt, dict):
            where = ".".join(parts[: i + 1])
            raise ValueError(
                f"{source}: cannot set {key!r}: {where!r} is a {type(nxt).__name__} ({nxt!r}), not a mapping"
            )
        node = nxt
    node[parts[-1]] = value


def apply_overrides(cfg: dict, overrides: Iterable[str], source: str = "config") -> dict:
    """Apply ``key.sub=value`` strings in order (in place) and return ``cfg``."""
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise ValueError(f"{source}: override {item!r} is not of the form key.sub=value")
        key, text = item.split("=", 1)
        set_value(cfg, key.strip(), parse_value(text), source=f"{source}: override {item!r}")
    return cfg


def load_config(path: str | os.PathLike, overrides: Iterable[str] = (), validate: bool = True) -> dict:
    """Load a config file (or shipped name), resolve ``_base_``, apply overrides and (by default) check
    every key and type against :mod:`i2pmae.engine.schema` -- before any data or model is touched."""
    resolved = resolve_config_path(path)
    cfg = _load_tree(resolved, ())
    overrides = list(overrides)
    if validate:
        validate_config(cfg, f"config {resolved}")
    cfg = apply_overrides(cfg, overrides, source=f"config {resolved}")
    if validate:
        validate_config(cfg, f"config {resolved}", overrides)
    return cfg


def validate_config(cfg: Mapping, source: str, overrides: Iterable[str] = ()) -> None:
    """ValueError naming the first unknown key / wrong type, its source (the file or the override) and the
    closest valid key; the schema of known keys is ``i2pmae.engine.schema.SCHEMA``."""
    from i2pmae.engine.schema import config_problems

    problems = config_problems(cfg)
    if not problems:
        return
    key, problem = problems[0]
    culprit = None
    for item in overrides:
        okey = str(item).split("=", 1)[0].strip()
        if key == okey or key.startswith(okey + ".") or okey.startswith(key + "."):
            culprit = item
    where = f"{source}, override {culprit!r}" if culprit is not None else source
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    raise ValueError(f"{where}: {problem}{more}")


def _plain(obj: Any) -> Any:
    """YAML-safe copy: tuples -> lists, paths -> str, numpy/torch scalars -> Python numbers."""
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    item = getattr(obj, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            return item()
        except (ValueError, RuntimeError):
            pass
    raise ValueError(f"config value {obj!r} of type {type(obj).__name__} cannot be saved as YAML")


def save_config(cfg: Mapping, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML (atomically, keys in their order) so a run can be reproduced or resumed."""
    from i2pmae.io_errors import default_file_mode, output_error

    path = Path(path)
    text = yaml.safe_dump(_plain(cfg), sort_keys=False, default_flow_style=False, allow_unicode=True)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), default_file_mode())  # mkstemp makes 0600; honour the umask like open()
            f.write(text)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise output_error(exc, path) from exc
        raise


def get(cfg: Mapping, key: str, default: Any = None) -> Any:
    """``cfg['a']['b']['c']`` for key ``a.b.c``, or ``default`` when any part is missing."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node
