"""Checkpoints: atomic writes, weights-only loading, the authors' formats.

Writes go to a ``*.tmp`` file in the same directory, are flushed and fsynced,
then renamed over the target with ``os.replace`` (atomic on POSIX and Windows),
so a crash mid-write leaves the previous checkpoint intact and never a
half-written ``last.pth``. Loading always uses ``torch.load(weights_only=True)``:
a checkpoint can hold tensors, numbers, strings, None and containers of them,
never code. ``save_checkpoint`` checks this before writing, so a run cannot
produce a ``last.pth`` it would later be unable to resume from.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch

from i2pmae.io_errors import default_file_mode, describe_load_error, serializer_write_error

RESUME_NAME = "last.pth"
MODEL_KEYS = ("base_model", "model", "state_dict", "model_state_dict")
_ATOMS = (str, bytes, bytearray, int, float, bool, complex, type(None), torch.Tensor, torch.Size, torch.device,
          torch.dtype)


def _numpy_safe_globals() -> list:
    """numpy scalar reconstructors (data only, no code) so checkpoints holding e.g. an np.float64 metric load."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        return []
    out: list = [np.dtype]
    try:
        from numpy._core.multiarray import scalar  # numpy >= 2
    except ImportError:  # pragma: no cover
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    out.append(scalar)
    dtypes = getattr(np, "dtypes", None)
    if dtypes is not None:
        out += [getattr(dtypes, n) for n in dir(dtypes) if n.endswith("DType")]
    return out


def _sanitise(obj: Any, where: str) -> Any:
    """A copy of ``obj`` that ``weights_only`` loading accepts (numpy converted), or ValueError naming the key."""
    if isinstance(obj, _ATOMS):
        return obj
    if isinstance(obj, (dict, OrderedDict, Counter)):
        out = type(obj)() if type(obj) in (dict, OrderedDict, Counter) else {}
        for k, v in obj.items():
            out[_sanitise(k, where)] = _sanitise(v, f"{where}[{k!r}]")
        metadata = getattr(obj, "_metadata", None)  # module versions that nn.Module.state_dict() attaches
        if isinstance(out, OrderedDict) and isinstance(metadata, dict):
            out._metadata = _sanitise(metadata, f"{where}._metadata")  # type: ignore[attr-defined]
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_sanitise(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return type(obj)(items) if type(obj) in (list, tuple, set) else list(items)
    try:
        import numpy as np

        if isinstance(obj, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(obj))
        if isinstance(obj, np.generic):
            return obj.item()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise ValueError(
        f"checkpoint entry {where} is a {type(obj).__module__}.{type(obj).__name__}, which weights-only "
        "loading cannot read back; store tensors, numbers, strings, None, or dicts/lists of them"
    )


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (tmp file + fsync + os.replace); return the path.

    The file gets the mode the umask gives new files (not mkstemp's 0600). A failed write (full disk,
    read-only file system) removes its temp file, leaves any previous ``path`` untouched and raises
    :class:`i2pmae.io_errors.OutputError` naming the path and what to do.
    """
    path = Path(path)
    if not isinstance(state, Mapping):
        raise ValueError(f"save_checkpoint({path}): state must be a dict, got {type(state).__name__}")
    clean = _sanitise(dict(state), "state")
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), default_file_mode())
            torch.save(clean, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)  # first: the free space left is then what the write had
        # torch's zip writer hides the OSError of a short write (a full disk) in a RuntimeError.
        error = serializer_write_error(exc, path, _payload_bytes(clean))
        if error is not None:
            raise error from exc
        raise
    _fsync_dir(path.parent)
    return path


def _payload_bytes(obj: Any) -> int:
    """Bytes of tensor data ``torch.save`` writes for ``obj`` (each storage once): a checkpoint's size."""
    seen: dict[int, int] = {}

    def visit(o: Any) -> None:
        if isinstance(o, torch.Tensor):
            storage = o.untyped_storage()
            seen[storage.data_ptr() or id(storage)] = storage.nbytes()
        elif isinstance(o, dict):
            for v in o.values():
                visit(v)
        elif isinstance(o, (list, tuple, set, frozenset)):
            for v in o:
                visit(v)

    visit(obj)
    return sum(seen.values())


def clean_stale_temps(directory: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.*.tmp`` files that interrupted atomic writes left in ``directory``; return them.

    Only call it while holding the run's lock: a live writer's temp file looks the same.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for tmp in directory.glob(".*.tmp"):
        if tmp.is_file() and not tmp.name.startswith(".write-test."):
            try:
                tmp.unlink()
                removed.append(tmp)
            except OSError:
                pass
    return removed


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX only; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; errors name the file and say what is wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not path.is_file():
        raise ValueError(f"checkpoint {path} is not a file")
    if path.stat().st_size == 0:
        raise ValueError(f"checkpoint {path} is empty (0 bytes); it was probably never completely written")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError, IndexError,
            KeyError, TypeError, AttributeError, UnicodeDecodeError, MemoryError, OverflowError) as exc:
        # Random bytes can fail anywhere inside the (restricted) unpickler, with any of these types;
        # a refused global (code in the pickle) is named, and weights_only=False is never suggested.
        raise ValueError(describe_load_error(path, exc)) from exc
    if not isinstance(obj, dict):
        raise ValueError(f"checkpoint {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def strip_module_prefix(state: Mapping[str, Any]) -> dict[str, Any]:
    """Remove one leading ``module.`` (DataParallel/DDP wrappers, docs/data.md §6.1) from every key."""
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


def extract_model_state(ckpt: Mapping[str, Any], source: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """The model weights of a checkpoint in any of our or the authors' formats, ``module.`` stripped.

    Accepted: ``{'base_model': sd}`` (I2P-MAE / Point-MAE), ``{'model': sd}`` (ours),
    ``{'state_dict': sd}``, ``{'model_state_dict': sd}`` (Point-M2AE segmentation), or a bare state dict.
    """
    where = f"checkpoint {source}" if source is not None else "checkpoint"
    if not isinstance(ckpt, Mapping):
        raise ValueError(f"{where}: expected a dict, got {type(ckpt).__name__}")
    state: Any = None
    for key in MODEL_KEYS:
        if isinstance(ckpt.get(key), Mapping):
            state = ckpt[key]
            break
    if state is None:
        if ckpt and all(torch.is_tensor(v) for v in ckpt.values()):
            state = ckpt
        else:
            raise ValueError(
                f"{where}: no model weights found; expected one of the keys {list(MODEL_KEYS)} or a bare "
                f"state dict of tensors, got keys {list(ckpt)[:10]}"
            )
    bad = [k for k, v in state.items() if not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"{where}: model state has non-tensor entries, e.g. {bad[:3]}")
    return strip_module_prefix(state)


def find_resume_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """``run_dir/last.pth`` when present (leftover ``*.tmp`` files of an interrupted write are ignored)."""
    candidate = Path(run_dir) / RESUME_NAME
    return candidate if candidate.is_file() else None


def export_safetensors(model_state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                       metadata: Mapping[str, str] | None = None) -> Path:
    """Write model weights as ``.safetensors`` (atomically), e.g. for sharing a pre-trained encoder."""
    from safetensors.torch import save_file

    path = Path(path)
    bad = [k for k, v in model_state.items() if not torch.is_tensor(v)]
    if bad:
        raise ValueError(f"export_safetensors({path}): non-tensor entries {bad[:3]}")
    # safetensors refuses tensors that share storage (tied weights) or are non-contiguous: give each its own copy.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model_state.items()}
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        os.fchmod(fd, default_file_mode())
        os.close(fd)
        save_file(tensors, str(tmp), metadata=dict(metadata) if metadata else None)
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        error = serializer_write_error(exc, path, sum(t.numel() * t.element_size() for t in tensors.values()))
        if error is not None:  # an OSError, or safetensors' "(os error 28)"
            raise error from exc
        raise
    return path
