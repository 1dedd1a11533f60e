"""File reading shared by the datasets: validated clouds, safe pickles, meshes, caches.

Every reader raises :class:`BadFileError` naming the file and the problem, so
the datasets can apply the ``on_bad_file`` policy uniformly.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from i2pmae.data.errors import BadFileError

POINT_SUFFIXES = (".npy", ".npz", ".txt", ".xyz", ".pts")
MESH_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".glb")

# --------------------------------------------------------------------------- validation


def check_cloud(points: np.ndarray, where: str | Path, min_points: int = 1, index: int | None = None,
                columns: int = 3) -> np.ndarray:
    """Return ``points`` if it is a finite (n >= min_points, >= columns) array, else raise BadFileError."""
    if not isinstance(points, np.ndarray) or points.dtype.kind not in "fiu":
        raise BadFileError(where, f"expected a numeric array, got {type(points).__name__}"
                           + (f" of dtype {points.dtype}" if isinstance(points, np.ndarray) else ""), index)
    if points.ndim != 2 or points.shape[1] < columns:
        raise BadFileError(where, f"expected an (N, >={columns}) point array, got shape {tuple(points.shape)}", index)
    if points.shape[0] == 0:
        raise BadFileError(where, "empty point cloud (0 points)", index)
    if points.shape[0] < min_points:
        raise BadFileError(where, f"too few points: {points.shape[0]}, need at least {min_points}", index)
    xyz = points[:, :3]
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        raise BadFileError(where, f"{int((~finite).sum())} of {len(xyz)} points contain NaN/Inf", index)
    if np.ptp(xyz, axis=0).max() == 0:
        raise BadFileError(where, f"all {len(xyz)} points coincide (degenerate cloud)", index)
    return points


def bad_rows(points: np.ndarray) -> dict[int, str]:
    """Rows of a stacked (n, P, C) array that are unusable, with the problem (vectorised check)."""
    xyz = points[..., :3]
    problems: dict[int, str] = {}
    finite = np.isfinite(xyz).all(axis=-1)
    for i in np.flatnonzero(~finite.all(axis=1)):
        problems[int(i)] = f"{int((~finite[i]).sum())} of {xyz.shape[1]} points contain NaN/Inf"
    spread = np.nan_to_num(np.ptp(xyz, axis=1)).max(axis=-1)
    for i in np.flatnonzero(spread == 0):
        problems.setdefault(int(i), f"all {xyz.shape[1]} points coincide (degenerate cloud)")
    return problems


def normalize(points: np.ndarray) -> np.ndarray:
    """Centre on the centroid and scale the farthest point to radius 1 (the authors' pc_normalize)."""
    xyz = points - points.mean(axis=0, keepdims=True)
    radius = np.sqrt((xyz ** 2).sum(axis=1)).max()
    return (xyz / radius).astype(np.float32, copy=False)


# --------------------------------------------------------------------------- point files


def read_point_file(path: str | Path) -> np.ndarray:
    """(n, C>=3) float32 array from .npy, .npz (key points/xyz/first) or a text cloud (first 3 columns kept)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        arr = load_npy(path)
    elif suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as z:
                keys = list(z.keys())
                if not keys:
                    raise BadFileError(path, "the .npz archive holds no arrays")
                key = next((k for k in ("points", "xyz") if k in keys), keys[0])
                arr = z[key]
        except BadFileError:
            raise
        except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError...
            raise BadFileError(path, _numpy_problem(exc, ".npz", path)) from None
    elif suffix in (".txt", ".xyz", ".pts", ".csv"):  # .csv only when named explicitly (not scanned in folders)
        arr = read_text_points(path)
    else:
        raise BadFileError(path, f"unsupported point-cloud suffix {suffix!r}; use one of {POINT_SUFFIXES}")
    check_cloud(arr, path)
    return np.ascontiguousarray(arr[:, :3], dtype=np.float32)


def load_npy(path: str | Path, mmap: bool = False) -> np.ndarray:
    """np.load without pickles; a truncated or corrupt file becomes a BadFileError naming it."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except Exception as exc:
        raise BadFileError(path, _numpy_problem(exc, ".npy", path)) from None
    if not isinstance(arr, np.ndarray):
        raise BadFileError(path, "expected a single array in the .npy file")
    return arr


PICKLED = "holds pickled Python objects, which i2pmae never loads (they can run code); save a plain numeric array"


def _numpy_problem(exc: BaseException, kind: str, path: str | Path | None = None) -> str:
    """Why ``np.load(allow_pickle=False)`` failed, in our words: numpy's own text for object arrays and
    pickles advises loading them with ``allow_pickle``, which we never repeat."""
    text = str(exc)
    if "Object arrays" in text:
        return f"{PICKLED} (e.g. np.save(path, points.astype('float32')))"
    if "allow_pickle" in text or "pickled" in text:  # numpy's guess for any file without its header
        try:
            with open(path, "rb") as f:  # type: ignore[arg-type]
                pickled = f.read(1) == b"\x80"  # the PROTO opcode every pickle since protocol 2 starts with
        except (OSError, TypeError):
            pickled = False
        if pickled:
            return f"{PICKLED} (e.g. np.save(path, points.astype('float32')))"
        return f"unreadable: not a {kind} file (no NumPy header), or a corrupt one"
    return f"unreadable or truncated {kind} ({type(exc).__name__}: {text})"


def read_text_points(path: str | Path, delimiter: str | None = None) -> np.ndarray:
    """Rows of numbers separated by whitespace or commas; comment lines (#) and a count header are skipped."""
    path = Path(path)
    try:
        text = path.read_text(errors="strict")
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFileError(path, f"unreadable text file ({type(exc).__name__}: {exc})") from None
    if delimiter is not None:
        text = text.replace(delimiter, " ")
    else:
        text = text.replace(",", " ").replace(";", " ")
    lines = [ln for ln in (raw.strip() for raw in text.splitlines()) if ln and not ln.startswith("#")]
    if not lines:
        raise BadFileError(path, "empty point cloud (no numeric rows)")
    rows = [ln.split() for ln in lines]
    if len(rows) > 1 and len(rows[0]) == 1 and len(rows[1]) > 1 and _is_number(rows[0][0]):
        rows, lines = rows[1:], lines[1:]  # a point-count header (.pts/.xyz variants)
    counts = {len(r) for r in rows}
    if len(counts) == 1 and min(counts) >= 3:
        try:  # the fast path: every token parsed in C
            return np.array(rows, dtype=np.float64).astype(np.float32)
        except ValueError:
            pass
    # Why it failed: words (a licence or readme saved as .txt, a column header) or ragged numeric rows.
    text_rows = [i for i, r in enumerate(rows) if not all(_is_number(t) for t in r)]
    if text_rows == [0] and len(rows) > 1:  # a column header such as 'x y z'
        rows, lines, text_rows = rows[1:], lines[1:], []
        counts = {len(r) for r in rows}
        if len(counts) == 1 and min(counts) >= 3:
            return np.array(rows, dtype=np.float64).astype(np.float32)
    if text_rows:
        raise BadFileError(path, f"not a point cloud: non-numeric text ({len(text_rows)} of {len(rows)} lines, "
                           f"e.g. {lines[text_rows[0]][:40]!r})")
    raise BadFileError(path, f"rows have {sorted(counts)} columns; need a constant count >= 3 (truncated file?)")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- meshes


def sample_mesh(path: str | Path, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 3) points sampled uniformly by area on a mesh file's surface (trimesh loads it)."""
    import trimesh

    path = Path(path)
    if not path.exists():
        raise BadFileError(path, "file not found")
    try:
        geom = trimesh.load(str(path))
        if isinstance(geom, trimesh.Scene):  # .glb and friends: all parts, with their transforms
            geom = geom.to_mesh() if hasattr(geom, "to_mesh") else geom.dump(concatenate=True)
    except Exception as exc:
        raise BadFileError(path, f"trimesh could not read the mesh ({type(exc).__name__}: {exc})") from None
    vertices = np.asarray(getattr(geom, "vertices", np.zeros((0, 3))), dtype=np.float64)
    faces = np.asarray(getattr(geom, "faces", np.zeros((0, 3))), dtype=np.int64)
    if len(faces) == 0:
        if len(vertices) == 0:
            raise BadFileError(path, "the file holds no vertices and no faces")
        # a point-cloud file (e.g. a .ply of vertices only): use its points as they are
        check_cloud(vertices, path)
        return vertices.astype(np.float32)
    if not np.isfinite(vertices).all():
        raise BadFileError(path, "mesh vertices contain NaN/Inf")
    triangles = vertices[faces]
    return sample_triangles(triangles, count, rng, where=path)


def sample_triangles(triangles: np.ndarray, count: int, rng: np.random.Generator,
                     where: str | Path = "mesh") -> np.ndarray:
    """Area-weighted uniform surface samples of (F, 3, 3) triangles, vectorised."""
    a, b, c = triangles[:, 0], triangles[:, 1], triangles[:, 2]
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)
    total = areas.sum()
    if not np.isfinite(total) or total <= 0:
        raise BadFileError(where, f"mesh has zero surface area ({len(triangles)} faces)")
    face = rng.choice(len(triangles), size=count, p=areas / total)
    u, v = rng.random((2, count))
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    pts = a[face] + u[:, None] * (b[face] - a[face]) + v[:, None] * (c[face] - a[face])
    return pts.astype(np.float32)


# --------------------------------------------------------------------------- sampling


def fps_numpy(xyz: np.ndarray, n: int) -> np.ndarray:
    """Farthest point sampling indices (B, n) of clouds (B, N, 3), batched, from index 0.

    Squared distances; ``argmax`` takes the lowest index on ties, like the
    project's op. Coordinates are kept as three planes and updated in place,
    which is about 10x faster than a (B, N, 3) difference per step on CPU.
    """
    planes = np.ascontiguousarray(np.asarray(xyz, dtype=np.float32)[..., :3].transpose(0, 2, 1))
    b, _, num = planes.shape
    if n >= num:
        return np.broadcast_to(np.arange(num), (b, num)).copy()
    rows = np.arange(b)
    idx = np.empty((b, n), dtype=np.int64)
    dist = np.full((b, num), np.inf, dtype=np.float32)
    cur = np.zeros(b, dtype=np.int64)
    tmp, d = np.empty((b, num), np.float32), np.empty((b, num), np.float32)
    for i in range(n):
        idx[:, i] = cur
        centre = planes[rows, :, cur]  # (b, 3)
        np.subtract(planes[:, 0], centre[:, 0:1], out=tmp)
        np.multiply(tmp, tmp, out=d)
        for k in (1, 2):
            np.subtract(planes[:, k], centre[:, k:k + 1], out=tmp)
            tmp *= tmp
            d += tmp
        np.minimum(dist, d, out=dist)
        cur = dist.argmax(axis=1)
    return idx


def fps_batch(clouds: np.ndarray, n: int) -> np.ndarray:
    """FPS indices (B, n) of equal-size clouds (B, N, 3), deterministic from index 0.

    On a CUDA machine this runs the project's ``i2pmae.ops.farthest_point_sample``
    on the GPU; otherwise the batched numpy loop above (same rule, same result
    up to float ties).
    """
    try:
        import torch

        if torch.cuda.is_available():
            from i2pmae.ops import farthest_point_sample

            with torch.no_grad():
                xyz = torch.from_numpy(np.ascontiguousarray(clouds[..., :3], dtype=np.float32))
                xyz = xyz.to(torch.device("cuda"))
                return farthest_point_sample(xyz, n).cpu().numpy()
    except ImportError:
        pass
    return fps_numpy(clouds, n)


def resample(points: np.ndarray, n: int, method: str, rng: np.random.Generator, where: str | Path = "",
             upsample: bool = False) -> np.ndarray:
    """Exactly n points by FPS or a random subset; fewer points than n is an error unless ``upsample``."""
    if method not in ("fps", "random"):
        raise ValueError(f"sampling must be 'fps' or 'random', got {method!r}")
    num = len(points)
    if num < n:
        if not upsample:
            raise BadFileError(where, f"too few points: {num}, need npoints={n} (lower npoints or set upsample: true)")
        extra = rng.choice(num, n - num, replace=True)
        return np.concatenate([points, points[extra]])
    if num == n:
        return points
    if method == "random":
        return points[np.sort(rng.choice(num, n, replace=False))]
    return points[fps_batch(points[None], n)[0]]


# --------------------------------------------------------------------------- restricted pickles


def _numpy_globals() -> dict[tuple[str, str], Any]:
    arr = np.zeros(1, dtype=np.float32)
    reconstruct = arr.__reduce__()[0]
    frombuffer = arr.__reduce_ex__(5)[0]
    scalar = np.float32(1).__reduce__()[0]
    import _codecs

    allowed: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _codecs.encode,  # protocol-2 pickles encode bytes this way
        ("builtins", "bytearray"): bytearray,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "complex"): complex,
        ("__builtin__", "set"): set,
    }
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = reconstruct
        allowed[(mod, "scalar")] = scalar
    for mod in ("numpy.core.numeric", "numpy._core.numeric"):
        allowed[(mod, "_frombuffer")] = frombuffer
    return allowed


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global outside the allowed numpy/container set."""


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only containers, numbers, strings and numpy arrays/scalars; anything else is refused."""

    _allowed: dict[tuple[str, str], Any] | None = None

    def find_class(self, module: str, name: str) -> Any:
        if RestrictedUnpickler._allowed is None:
            RestrictedUnpickler._allowed = _numpy_globals()
        try:
            return RestrictedUnpickler._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"refusing to load global {module}.{name}: only numpy arrays, lists, tuples, dicts, "
                "numbers and strings are allowed") from None


def safe_pickle_load(path: str | Path) -> Any:
    """Load a pickle of numpy arrays (the authors' .dat / few-shot .pkl) without running foreign code."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return RestrictedUnpickler(io.BufferedReader(f), encoding="latin1").load()
    except FileNotFoundError:
        raise BadFileError(path, "file not found") from None
    except UnsafePickleError as exc:
        raise BadFileError(path, f"unsafe pickle: {exc}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OSError,
            MemoryError) as exc:
        raise BadFileError(path, f"unreadable or truncated pickle ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- caches


def cache_dir_for(data_folder: Path, cfg_cache_dir: str | None, name: str) -> Path:
    """Where a cache built from ``data_folder`` goes: ``cache_dir`` if set, else under the user cache
    directory ($I2PMAE_CACHE, default ~/.cache/i2pmae) keyed by the folder's absolute path; never into the
    dataset itself, so read-only datasets work (the file names carry a hash of the contents)."""
    from i2pmae.data.locations import dataset_cache_dir

    return dataset_cache_dir(data_folder, name, cfg_cache_dir)


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an uncompressed .npz via a temporary file and rename, so a killed run leaves no half cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz cache, never unpickling; ValueError in our words for object arrays."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.keys()}
    except ValueError as exc:
        raise ValueError(_numpy_problem(exc, ".npz", path)) from None


def files_fingerprint(files: Iterable[Path], *extra: object) -> str:
    """A short hash of file names, sizes and modification times (cache keys)."""
    h = hashlib.sha1()
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(repr(extra).encode())
    return h.hexdigest()[:16]
