"""An open corpus of real meshes from Debian packages (issue 23): ``i2pmae data real-corpus`` (the same as
``python scripts/build_real_corpus.py``); docs/data.md §9.

Debian's archive holds thousands of engineer- and artist-made object meshes under free licences. This
builder takes the packages' ``.deb`` files (downloaded with ``apt-get download``, or given with ``--debs``
so it also runs without root), reads every mesh inside (nested ``.pk3``/``.wz``/``.zip``/``.tar.gz``
archives included) with :mod:`i2pmae.data.mesh_formats`, samples each object's surface (area-weighted,
seeded by the object's content hash, so a second build writes the same bytes) and writes:

``OUT/clouds/<id>.npy``
    one (points, 3) float32 cloud per exactly-distinct object (centred, unit sphere); ``id`` = the first 16
    hex digits of the SHA-256 of its quantised, normalised triangles (exact duplicates share it).
``OUT/pretrain/<source>.<label>/<id>.npy``
    the pre-training set, ``format: folder``: every source except the evaluation ones, minus every
    near-duplicate group (below) that holds an object of an evaluation source or family.
``OUT/eval-ufoai/<label>/<id>.npy``, ``OUT/eval-kicad/<family>/<id>.npy``
    the left-out evaluation sets (``format: folder``): ufoai-data's categories and held-out KiCad families,
    one object per near-duplicate group (so no near-twin straddles a cross-validation fold), labels with
    at least ``MIN_EVAL_PER_LABEL`` objects.
``OUT/manifest.json``
    packages (versions, licence lines of their copyright files; a package whose doc folder is a symlink to
    another package's, as libcgal-demo's is to libcgal-dev's, takes that package's, read from its .deb in
    the --debs folder), counts per source/label/split, each
    object's source files, label, group and cloud SHA-256, and one hash of the whole object list.

Near-duplicate groups: objects whose 12^3 occupancy grids have Jaccard >= 0.9 are near-twins; groups are the
connected components over all sources (chains link e.g. the pin headers of every pitch). An evaluation set
keeps one object per group (a group with objects of both evaluation sets has one in each); pre-training drops
every group that holds an object of an evaluation source or family, objects only chained to one included, so
no group straddles pretrain/ and an evaluation set (``straddling_groups`` checks a built corpus). The held-out
KiCad families are the self-contained ones: at least 20 near-distinct groups, and near-twins outside the
family for at most 15% of their objects.
Labels come from paths (see ``label_for``). The build is resumable: each finished package's records are
kept in ``OUT/records/`` and existing clouds are not rewritten.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from i2pmae.data._io import normalize, sample_triangles
from i2pmae.data.errors import BadFileError
from i2pmae.data.mesh_formats import MESH_SUFFIXES, read_mesh_bytes

log = logging.getLogger("i2pmae")

#: The packages of issue 23 (others that hold 3D models are kept for independent checks), short names.
PACKAGES = {
    "kicad-packages3d": "kicad", "ufoai-data": "ufoai", "megaglest-data": "megaglest",
    "warzone2100-data": "warzone2100", "libcgal-demo": "cgal", "torcs-data": "torcs",
    "crrcsim-data": "crrcsim", "assimp-testmodels": "assimp", "minetest-data": "minetest",
}
EVAL_SOURCES = ("ufoai-data",)          # left out of pre-training entirely
KICAD_MIN_GROUPS = 20                   # KiCad families with this many near-distinct objects ...
KICAD_MAX_OUTSIDE_TWINS = 0.15          # ... whose near-twins outside the family number <= 15% of its objects
MIN_EVAL_PER_LABEL = 10                 # evaluation labels with fewer objects are dropped (5-fold CV)
GRID, JACCARD = 12, 0.9                 # near-duplicate test
QUANT = 1e4                             # vertex quantisation for the content hash (normalised units)
OCC_POINTS = 16384                      # surface samples behind each occupancy grid
ARCHIVES = (".pk3", ".wz", ".zip", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")
FORMAT_VERSION = 1


class CorpusError(RuntimeError):
    """A problem the user must fix (apt-get, disk space, missing packages): one clear line."""


# --------------------------------------------------------------------------- reading .deb files


def _ar_members(path: Path) -> Iterator[tuple[str, int, int]]:
    """(name, offset, size) of each member of an ``ar`` archive (a .deb)."""
    with open(path, "rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise BadFileError(path, "not a .deb (no ar archive header)")
        while True:
            head = f.read(60)
            if len(head) < 60:
                return
            name = head[:16].decode("ascii", "replace").strip().rstrip("/")
            try:
                size = int(head[48:58].decode("ascii").strip())
            except ValueError:
                raise BadFileError(path, f"corrupt ar member header {head[:16]!r}") from None
            yield name, f.tell(), size
            f.seek(size + (size & 1), os.SEEK_CUR)


def _open_tar(path: Path, member: str) -> tuple[tarfile.TarFile, Any]:
    for name, offset, size in _ar_members(path):
        if name.startswith(member):
            f = open(path, "rb")
            f.seek(offset)
            if name.endswith(".zst"):
                try:  # Python >= 3.14 reads zstd itself; otherwise dpkg-deb does
                    return tarfile.open(fileobj=io.BytesIO(f.read(size)), mode="r:zst"), f
                except (tarfile.CompressionError, ValueError, tarfile.ReadError):
                    f.close()
                    if shutil.which("dpkg-deb") is None:
                        raise BadFileError(path, "zstd-compressed .deb: needs Python >= 3.14 or dpkg-deb") from None
                    flag = "--fsys-tarfile" if member.startswith("data") else "--ctrl-tarfile"
                    out = subprocess.run(["dpkg-deb", flag, str(path)], capture_output=True, check=True).stdout
                    return tarfile.open(fileobj=io.BytesIO(out), mode="r:"), None
            return tarfile.open(fileobj=f, mode="r|*"), f  # data.tar is the last member: stream it
    raise BadFileError(path, f"no {member}* member in the .deb")


@contextlib.contextmanager
def _data_tar(path: Path) -> Iterator[tarfile.TarFile]:
    """The .deb's data.tar, open for reading; a read error becomes one BadFileError naming the package."""
    tar, handle = _open_tar(path, "data.tar")
    try:
        yield tar
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise BadFileError(path, f"cannot read the package's data ({type(exc).__name__}: {exc})") from None
    finally:
        tar.close()
        if handle is not None:
            handle.close()


def deb_files(path: Path, want: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    """(path inside the package, bytes) of every file of a .deb whose name ends with one of ``want``
    (lower-case), descending into archives (``ARCHIVES``) one level deep; inner paths are joined with '!'."""
    with _data_tar(path) as tar:
        for info in tar:
            if not info.isfile():
                continue
            name = info.name.lstrip("./")
            low = name.lower()
            if low.endswith(want) or low.endswith(ARCHIVES):
                data = tar.extractfile(info).read()  # type: ignore[union-attr]
                if low.endswith(ARCHIVES):
                    yield from _archive_files(name, data, want)
                else:
                    yield name, data


def _archive_files(name: str, data: bytes, want: tuple[str, ...]) -> Iterator[tuple[str, bytes]]:
    try:
        if name.lower().endswith((".pk3", ".wz", ".zip")):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for inner in sorted(z.namelist()):
                    if inner.lower().endswith(want) and not inner.endswith("/"):
                        yield f"{name}!{inner}", z.read(inner)
        else:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as t:
                for info in t.getmembers():
                    if info.isfile() and info.name.lower().endswith(want):
                        yield f"{name}!{info.name.lstrip('./')}", t.extractfile(info).read()  # type: ignore
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        log.warning("real corpus: skipping unreadable archive %s (%s)", name, exc)


def deb_name_version(path: Path) -> tuple[str, str]:
    """(package, version) from a .deb's file name ``NAME_VERSION_ARCH.deb`` (apt's naming)."""
    parts = path.name[:-4].split("_")
    if len(parts) != 3:
        raise CorpusError(f"{path}: not a NAME_VERSION_ARCH.deb file name")
    return parts[0], parts[1].replace("%3a", ":")


def licence_lines(text: str) -> list[str]:
    """The distinct ``License:`` values of a Debian copyright file (or its first lines if it has none)."""
    found = sorted({line.split(":", 1)[1].strip() for line in text.splitlines()
                    if line.startswith("License:") and line.split(":", 1)[1].strip()})
    return found or [line.strip() for line in text.splitlines() if line.strip()][:5]


def doc_link(deb: Path, package: str) -> str | None:
    """The package whose doc folder ``usr/share/doc/<package>`` links to (Debian lets a package share the doc
    folder, copyright file included, of a package of the same source it depends on: libcgal-demo ->
    libcgal-dev), or None when it is not a symlink."""
    with _data_tar(deb) as tar:
        for info in tar:
            if info.name.lstrip("./").rstrip("/") == f"usr/share/doc/{package}":
                return (os.path.basename(info.linkname.rstrip("/")) or None) if info.issym() else None
    return None


def copyright_of(deb: Path, package: str) -> str:
    """The text of ``usr/share/doc/<package>/copyright`` in a .deb ('' when it is not a file there)."""
    for name, data in deb_files(deb, ("/copyright",)):
        if name == f"usr/share/doc/{package}/copyright":
            return data.decode("utf-8", "replace")
    return ""


def linked_licences(record: dict[str, Any], deb: Path, debs: Path, fetch: bool) -> bool:
    """Fill in the licences of a package without a copyright file of its own from the package its doc folder
    links to (its .deb in ``debs``, downloaded there with ``fetch``): sets ``licences_from`` and ``licences``
    and returns True, or logs what to do and returns False."""
    package = record["package"]
    target = doc_link(deb, package)
    if target is None:
        return False
    cands = sorted(debs.glob(f"{target}_*.deb"))
    if not cands and fetch:
        download([target], debs, need_gib=0.1)
        cands = sorted(debs.glob(f"{target}_*.deb"))
    if not cands:
        log.warning("real corpus: %s has no copyright file of its own (usr/share/doc/%s -> %s); for its licences "
                    "put %s's .deb in %s or build with --download", package, package, target, target, debs)
        record["licences_from"] = target
        return False
    text = copyright_of(cands[-1], target)
    record.update(licences_from=target, licences_deb=cands[-1].name, licences=licence_lines(text))
    return bool(text)


# --------------------------------------------------------------------------- labels


def _clean(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "misc"


def label_for(package: str, path: str) -> str:
    """The natural label of a mesh from its path inside its package (documented in the manifest)."""
    inner = path.split("!")[-1]
    parts = inner.split("/")
    if package == "kicad-packages3d":  # usr/share/kicad/3dmodels/<Family>.3dshapes/<part>.wrl
        fam = [p for p in parts if p.endswith(".3dshapes")]
        return _clean(fam[0][: -len(".3dshapes")]) if fam else "misc"
    if package == "ufoai-data":  # models/<category>/..., models/objects/<kind>/...
        if len(parts) > 2 and parts[0] == "models":
            return _clean(f"objects-{parts[2]}" if parts[1] == "objects" and len(parts) > 3 else parts[1])
        return "misc"
    if package == "megaglest-data":  # techs/<tech>/factions/<faction>/..., tilesets/<set>/models/...
        if "factions" in parts:
            return _clean(parts[parts.index("factions") + 1])
        return "tileset" if "tilesets" in parts else "misc"
    if package == "warzone2100-data":  # base.wz!components/weapons/x.pie -> components-weapons
        return _clean("-".join(parts[:-1])) if len(parts) > 1 else "misc"
    if package == "torcs-data" and "torcs" in parts:  # usr/share/games/torcs/<cars|tracks|...>/
        rest = parts[parts.index("torcs") + 1:]
        return _clean(rest[0]) if len(rest) > 1 else "misc"
    return "all"


# --------------------------------------------------------------------------- one object


def content_id(vertices: np.ndarray, faces: np.ndarray) -> tuple[str, np.ndarray]:
    """(SHA-256 hex of the quantised normalised triangle set, normalised vertices): the same shape at any
    position, scale, vertex order or face order gets the same id."""
    lo, hi = vertices.min(axis=0), vertices.max(axis=0)
    v = (vertices - (lo + hi) / 2) / max(float((hi - lo).max()) / 2, 1e-30)
    tri = np.round(v * QUANT).astype(np.int64)[faces].reshape(len(faces), 9)
    tri = np.unique(tri, axis=0)
    return hashlib.sha256(np.ascontiguousarray(tri).tobytes()).hexdigest(), v


def process_mesh(name: str, data: bytes, points: int) -> dict[str, Any]:
    """Read, hash and sample one mesh; ``{'error': ...}`` when it cannot be used. The cloud is the first
    ``points`` of ``OCC_POINTS`` area-weighted samples; the near-duplicate occupancy grid uses all of them
    (a sparse cloud would leave cells empty by chance and make twins look different)."""
    try:
        vertices, faces = read_mesh_bytes(data, name)
        if len(faces) == 0:
            raise BadFileError(name, "no faces")
        sha, v = content_id(vertices, faces)
        rng = np.random.default_rng(int(sha[:16], 16))
        dense = sample_triangles(v[faces], max(points, OCC_POINTS), rng, where=name).astype(np.float64)
        cloud = normalize(dense[:points])
        if not np.isfinite(dense).all() or np.ptp(cloud, axis=0).max() == 0:
            raise BadFileError(name, "degenerate surface (points not finite or all equal)")
    except BadFileError as err:
        return {"name": name, "error": err.problem}
    occ = np.packbits(occupancy(normalize(dense)[None])[0]).tobytes().hex()
    return {"name": name, "sha": sha, "id": sha[:16], "vertices": len(vertices), "faces": len(faces),
            "occupancy": occ, "cloud": cloud.astype(np.float32)}


def _process(args: tuple[str, bytes, int]) -> dict[str, Any]:
    return process_mesh(*args)


# --------------------------------------------------------------------------- near duplicates


def occupancy(clouds: np.ndarray, grid: int = GRID) -> np.ndarray:
    """(N, grid^3) bool occupancy of normalised clouds (N, P, 3) in the cube [-1, 1]^3."""
    cells = np.clip(((clouds + 1) / 2 * grid).astype(np.int64), 0, grid - 1)
    flat = (cells[..., 0] * grid + cells[..., 1]) * grid + cells[..., 2]
    occ = np.zeros((len(clouds), grid ** 3), dtype=bool)
    occ[np.repeat(np.arange(len(clouds)), flat.shape[1]), flat.ravel()] = True
    return occ


def near_twin_pairs(occ: np.ndarray, threshold: float = JACCARD, block: int = 2048) -> np.ndarray:
    """(P, 2) index pairs i < j whose occupancy grids have Jaccard >= ``threshold`` (blockwise matrix products)."""
    x = occ.astype(np.float32)
    sizes = x.sum(axis=1)
    pairs = []
    for s in range(0, len(x), block):
        inter = x[s:s + block] @ x.T
        union = sizes[s:s + block, None] + sizes[None, :] - inter
        ii, jj = np.nonzero(inter >= threshold * np.maximum(union, 1))
        keep = ii + s < jj
        pairs.append(np.stack([ii[keep] + s, jj[keep]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)


def groups_from_pairs(n: int, pairs: np.ndarray) -> np.ndarray:
    """The smallest member index of each row's connected component."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs.tolist():
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def near_duplicate_groups(occ: np.ndarray, threshold: float = JACCARD, block: int = 2048) -> np.ndarray:
    """Group index per row: connected components of 'occupancy Jaccard >= threshold'."""
    return groups_from_pairs(len(occ), near_twin_pairs(occ, threshold, block))


# --------------------------------------------------------------------------- the build


def download(packages: list[str], debs: Path, need_gib: float = 2.0) -> None:
    """``apt-get download`` the packages into ``debs`` (needs apt's package lists: ``apt-get update``), after
    checking that ``need_gib`` are free there (all the corpus's packages: ~1.5 GB)."""
    missing = [p for p in packages if not list(debs.glob(f"{p}_*.deb"))]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        raise CorpusError(f"--download needs apt-get, which is not on this system: download the .deb files of "
                          f"{' '.join(missing)} on a Debian/Ubuntu machine ('apt-get download NAME') or from "
                          f"packages.debian.org, put them in one folder and pass --debs DIR")
    debs.mkdir(parents=True, exist_ok=True)
    _check_space(debs, need_gib, "the downloads (~1.5 GB for all the packages)", "--debs")
    log.info("real corpus: apt-get download %s", " ".join(missing))
    try:
        res = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True, text=True)
    except OSError as exc:
        raise CorpusError(f"cannot run apt-get ({exc}); download the .deb files elsewhere and pass --debs DIR") \
            from None
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or ["no output"]
        raise CorpusError(f"apt-get download failed ({tail[0]}); run 'apt-get update' (as root) so apt knows "
                          f"the packages, or download the .deb files elsewhere and pass --debs DIR")


def _check_space(where: Path, gib: float, what: str, flag: str = "--out") -> None:
    free = shutil.disk_usage(where).free / 2 ** 30
    if free < gib:
        raise CorpusError(f"only {free:.1f} GiB free at {where}; {what} need about {gib:.1f} GiB: free some "
                          f"space there or pass {flag} a folder on a larger disk")


def find_debs(debs: Path, packages: list[str]) -> dict[str, Path]:
    """The newest-named .deb of each package in ``debs``; a clear error for missing ones."""
    found, missing = {}, []
    for p in packages:
        cands = sorted(debs.glob(f"{p}_*.deb"))
        if cands:
            found[p] = cands[-1]
        else:
            missing.append(p)
    if missing:
        raise CorpusError(f"no .deb for {', '.join(missing)} in {debs}; run with --download (apt-get "
                          f"download, ~1.5 GB for all) or 'apt-get download {' '.join(missing)}' in that folder")
    return found


def _source_records(package: str, deb: Path, out: Path, points: int, workers: int) -> dict[str, Any]:
    """Read, hash and sample every mesh of one package (or reload its finished records)."""
    _, version = deb_name_version(deb)
    rec_path = out / "records" / f"{package}_{version}_{points}.json"
    if rec_path.is_file():
        log.info("real corpus: %s %s already done (%s)", package, version, rec_path.name)
        return json.loads(rec_path.read_text())
    want = MESH_SUFFIXES + ("/copyright",)
    if package == "kicad-packages3d":
        want = (".wrl", "/copyright")
    copyright_text, count, objects, errors = "", 0, [], []
    start = time.time()
    (out / "clouds").mkdir(parents=True, exist_ok=True)

    def jobs() -> Iterator[tuple[str, bytes, int]]:
        nonlocal copyright_text, count
        for name, data in deb_files(deb, want):
            if name.endswith(f"usr/share/doc/{package}/copyright"):
                copyright_text = data.decode("utf-8", "replace")
            elif name.lower().endswith(MESH_SUFFIXES):
                count += 1
                if count % 500 == 0:
                    log.info("real corpus: %s: %d meshes read (%.0f s)", package, count, time.time() - start)
                yield name, data, points

    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        batch: list[tuple[str, bytes, int]] = []
        for job in itertools.chain(jobs(), [None]):  # batches of 64 meshes, so a package is never held in memory whole
            if job is not None:
                batch.append(job)
                if len(batch) < 64:
                    continue
            for res in (pool.map(_process, batch, chunksize=4) if pool else map(_process, batch)):
                if "error" in res:
                    errors.append([res["name"], res["error"]])
                    continue
                cloud = res.pop("cloud")
                target = out / "clouds" / f"{res['id']}.npy"
                if not target.is_file():
                    _save(target, cloud)
                res.update(label=label_for(package, res["name"]))
                objects.append(res)
            batch = []
    finally:
        if pool:
            pool.shutdown()
    objects.sort(key=lambda o: o["name"])
    errors.sort()
    record = {"package": package, "version": version, "deb": deb.name, "licences": licence_lines(copyright_text),
              "copyright_found": bool(copyright_text), "meshes": count, "objects": objects, "errors": errors,
              "seconds": round(time.time() - start, 1)}
    rec_path.parent.mkdir(parents=True, exist_ok=True)
    _write_json(rec_path, record)
    log.info("real corpus: %s: %d meshes, %d read, %d errors (%.0f s)", package, count, len(objects),
             len(errors), time.time() - start)
    return record


def _save(target: Path, cloud: np.ndarray) -> None:
    tmp = target.with_suffix(".tmp.npy")
    try:
        np.save(tmp, cloud)
        os.replace(tmp, target)
    except OSError as exc:
        raise CorpusError(f"cannot write {target} ({exc.strerror or exc}); is the disk full?") from None


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def build(out: Path, debs: Path, packages: list[str] | None = None, points: int = 2048, workers: int = 2,
          fetch: bool = False, kicad_min_groups: int = KICAD_MIN_GROUPS,
          kicad_max_outside_twins: float = KICAD_MAX_OUTSIDE_TWINS,
          min_eval_per_label: int = MIN_EVAL_PER_LABEL) -> dict[str, Any]:
    """Build (or finish) the corpus in ``out`` from the .deb files in ``debs``; returns the manifest. The
    three thresholds are the documented constants (tests lower them for tiny packages)."""
    packages = list(packages or PACKAGES)
    unknown = [p for p in packages if p not in PACKAGES]
    if unknown:
        raise CorpusError(f"unknown package(s) {', '.join(unknown)}; the corpus uses {', '.join(PACKAGES)}")
    out.mkdir(parents=True, exist_ok=True)
    if fetch:
        download(packages, debs)
    found = find_debs(debs, packages)
    _check_space(out, 0.5 + points * 12 * 12000 / 2 ** 30, "the clouds (~12,000 objects)")
    start = time.time()
    records = [_source_records(p, found[p], out, points, workers) for p in packages]
    for rec in records:  # a package whose doc folder is another package's (libcgal-demo): that one's licences
        if not rec["copyright_found"] and "licences_deb" not in rec:
            if linked_licences(rec, found[rec["package"]], debs, fetch):
                _write_json(out / "records" / f"{rec['package']}_{rec['version']}_{points}.json", rec)

    # exact duplicates: one object per content id, the first in package order then path order
    objects: dict[str, dict[str, Any]] = {}
    for rec in records:
        for o in rec["objects"]:
            if o["id"] in objects:
                objects[o["id"]]["duplicates"].append(f"{rec['package']}:{o['name']}")
                continue
            objects[o["id"]] = {"id": o["id"], "sha": o["sha"], "source": rec["package"], "file": o["name"],
                                "label": o["label"], "vertices": o["vertices"], "faces": o["faces"],
                                "duplicates": [], "_occ": o["occupancy"]}
    ids = sorted(objects)
    log.info("real corpus: %d distinct objects; grouping near-duplicates", len(ids))
    occ = np.stack([np.unpackbits(np.frombuffer(bytes.fromhex(objects[i].pop("_occ")), np.uint8))[:GRID ** 3]
                    for i in ids]).astype(bool) if ids else np.zeros((0, GRID ** 3), bool)
    pairs = near_twin_pairs(occ)
    groups = groups_from_pairs(len(ids), pairs)
    for i, g in zip(ids, groups):
        objects[i]["group"] = ids[g]

    # held-out KiCad families: self-contained ones (few near-twins in other families or sources), so that
    # holding them out is a test on shapes pre-training has seen nothing close to, and costs few objects
    family = np.array([o["label"] if o["source"] == "kicad-packages3d" else "" for o in map(objects.get, ids)])
    held_kicad = []
    for fam in sorted(set(family) - {""}):
        inside = family == fam
        outside = set(pairs[inside[pairs[:, 0]] & ~inside[pairs[:, 1]], 1].tolist()) | \
            set(pairs[inside[pairs[:, 1]] & ~inside[pairs[:, 0]], 0].tolist())
        enough = len(set(groups[inside].tolist())) >= kicad_min_groups
        if enough and len(outside) <= kicad_max_outside_twins * inside.sum():
            held_kicad.append(fam)

    def eval_set(o: dict[str, Any]) -> str | None:
        if o["source"] in EVAL_SOURCES:
            return "eval-" + PACKAGES[o["source"]]
        if o["source"] == "kicad-packages3d" and o["label"] in held_kicad:
            return "eval-kicad"
        return None

    # a near-duplicate group (connected component, across all sources) holding any object of an evaluation
    # source or family gives nothing to pre-training: dropping only direct near-twins let chains A ~ B ~ C
    # carry C into pretrain/ while A is evaluated
    is_eval = np.array([eval_set(objects[i]) is not None for i in ids], dtype=bool)
    eval_groups = set(groups[is_eval].tolist())
    reps: dict[tuple[str, str], str] = {}
    for i in ids:  # one representative (smallest id) per group and evaluation set: a group holding objects of
        # both sets (ufoai and a held-out KiCad family) has one in each; the sets are probed separately and
        # neither is trained on, so this is no leak, and the group is still kept out of pretrain/
        o = objects[i]
        if eval_set(o):
            reps.setdefault((eval_set(o), o["group"]), i)
    per_label: dict[tuple[str, str], int] = {}
    for (where, _), i in reps.items():
        per_label[(where, objects[i]["label"])] = per_label.get((where, objects[i]["label"]), 0) + 1
    for k, i in enumerate(ids):
        o = objects[i]
        where = eval_set(o)
        if where:
            if reps[(where, o["group"])] != i:
                o["split"] = "none (near-twin of an evaluation object)"
            elif per_label[(where, o["label"])] < min_eval_per_label:
                o["split"] = f"none (evaluation label with < {min_eval_per_label} objects)"
            else:
                o["split"] = where
        elif int(groups[k]) in eval_groups:
            o["split"] = "none (near-duplicate group of an evaluation object)"
        else:
            o["split"] = "pretrain"

    # the folder views (hard links to clouds/), rebuilt every run
    for d in ["pretrain"] + sorted({f"eval-{PACKAGES[s]}" for s in EVAL_SOURCES} | {"eval-kicad"}):
        shutil.rmtree(out / d, ignore_errors=True)
    for i in ids:
        o = objects[i]
        src = out / "clouds" / f"{i}.npy"
        o["cloud_sha256"] = _sha256(src)
        if o["split"] == "pretrain":
            _link(src, out / "pretrain" / f"{PACKAGES[o['source']]}.{o['label']}" / f"{i}.npy")
        elif o["split"].startswith("eval-"):
            _link(src, out / o["split"] / o["label"] / f"{i}.npy")

    manifest = _manifest(records, objects, ids, held_kicad, points, (kicad_min_groups, kicad_max_outside_twins,
                                                                     min_eval_per_label))
    manifest["seconds_this_run"] = round(time.time() - start, 1)
    _write_json(out / "manifest.json", manifest)
    return manifest


def straddling_groups(out: Path) -> dict[str, list[str]]:
    """Near-duplicate groups of a built corpus in ``out`` with objects both in ``pretrain/`` and in an
    evaluation folder, read from the folder views on disk and the manifest's groups: ``{eval folder: [group
    ids]}`` (empty when the split is clean, as ``build`` makes it)."""
    group = {o["id"]: o["group"] for o in json.loads((out / "manifest.json").read_text())["objects"]}

    def groups_in(folder: Path) -> set[str]:
        return {group[p.stem] for p in folder.glob("*/*.npy")}

    pretrain, found = groups_in(out / "pretrain"), {}
    for d in sorted(out.glob("eval-*")):
        both = groups_in(d) & pretrain
        if both:
            found[d.name] = sorted(both)
    return found


def _count(objs: list[dict[str, Any]], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in objs:
        counts[o[key]] = counts.get(o[key], 0) + 1
    return dict(sorted(counts.items()))


def _manifest(records: list[dict[str, Any]], objects: dict[str, dict[str, Any]], ids: list[str],
              held_kicad: list[str], points: int, thresholds: tuple[int, float, int]) -> dict[str, Any]:
    objs = [objects[i] for i in ids]
    min_groups, max_outside, min_eval = thresholds
    listing = "\n".join(f"{o['id']} {o['cloud_sha256']} {o['source']} {o['label']} {o['group']} {o['split']}"
                        for o in objs)
    splits: dict[str, dict[str, int]] = {}
    for o in objs:
        splits.setdefault(o["split"], {})
        splits[o["split"]][o["label"]] = splits[o["split"]].get(o["label"], 0) + 1
    return {
        "format_version": FORMAT_VERSION,
        "points_per_object": points,
        "object_list_sha256": hashlib.sha256(listing.encode()).hexdigest(),
        "packages": {r["package"]: {"version": r["version"], "deb": r["deb"], "licences": r["licences"],
                                    "copyright_file_found": r["copyright_found"] or _no_copyright(r),
                                    "mesh_files": r["meshes"],
                                    "read": len(r["objects"]), "unreadable": len(r["errors"]),
                                    "distinct": sum(o["source"] == r["package"] for o in objs),
                                    "near_distinct_groups": len({o["group"] for o in objs
                                                                 if o["source"] == r["package"]}),
                                    "seconds": r["seconds"]} for r in records},
        "counts": {"objects": len(objs), "near_duplicate_groups": len({o["group"] for o in objs}),
                   "per_source": _count(objs, "source"), "per_split": {k: sum(v.values()) for k, v in splits.items()},
                   "per_split_label": {k: dict(sorted(v.items())) for k, v in sorted(splits.items())}},
        "rules": {"near_duplicates": f"{GRID}^3 occupancy Jaccard >= {JACCARD}, connected components",
                  "exact_duplicates": f"SHA-256 of the triangle set, vertices normalised to [-1,1] and "
                                      f"rounded to 1/{QUANT:g}",
                  "evaluation_sources": list(EVAL_SOURCES), "held_out_kicad_families": held_kicad,
                  "held_out_kicad_rule": f"families with >= {min_groups} near-distinct groups whose objects have "
                                         f"near-twins in at most {max_outside:g} x their count objects outside "
                                         "the family (self-contained families)",
                  "evaluation_sets": f"one object per near-duplicate group; labels with >= {min_eval} objects",
                  "pretrain": "all other sources, minus every near-duplicate group (connected component, all "
                              "sources) that holds an object of an evaluation source or family",
                  "labels": "kicad: 3D-model family folder; ufoai: models/<category> (objects-<kind> for "
                            "models/objects/<kind>/...); megaglest: faction or 'tileset'; warzone2100: folder "
                            "inside the .wz; torcs: top folder; others: 'all'"},
        "errors": {r["package"]: r["errors"] for r in records if r["errors"]},
        "objects": objs,
    }


def _no_copyright(r: dict[str, Any]) -> str:
    """Why a package's ``licences`` are not from its own copyright file, and where they are from."""
    where = f"no: usr/share/doc/{r['package']}/copyright is not a file in this package"
    target = r.get("licences_from")
    if target is None:
        return where
    where += f" (its doc folder links to {target}'s)"
    if "licences_deb" in r:
        return where + f"; licences from {target}'s copyright file ({r['licences_deb']})"
    return where + f"; put {target}'s .deb next to the others (or build with --download) for its licences"


def summary(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest without the per-object list and errors (small enough to commit)."""
    return {k: v for k, v in manifest.items() if k not in ("objects", "errors")} | {
        "unreadable_files": sum(len(v) for v in manifest.get("errors", {}).values())}


def run(args: argparse.Namespace) -> int:
    """``i2pmae data real-corpus`` (its options: i2pmae/cli/data.py); raises :class:`CorpusError` /
    ``BadFileError`` (one line each)."""
    from i2pmae.data.locations import user_cache_dir

    for flag, value in (("--points", args.points), ("--workers", args.workers)):
        if value < 1:
            raise CorpusError(f"{flag} must be >= 1, got {value}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("trimesh").setLevel(logging.WARNING)
    out = Path(os.path.expanduser(args.out)) if args.out else user_cache_dir() / "real-corpus"
    debs = Path(os.path.expanduser(args.debs)) if args.debs else out / "debs"
    manifest = build(out, debs, args.packages, args.points, args.workers, fetch=args.download)
    if args.summary:
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(json.dumps(summary(manifest), indent=1, sort_keys=True) + "\n")
    c = manifest["counts"]
    print(f"{c['objects']} objects ({c['near_duplicate_groups']} near-duplicate groups) in {out}; "
          f"splits: {c['per_split']}; object list sha256 {manifest['object_list_sha256'][:16]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``scripts/build_real_corpus.py`` / ``python -m i2pmae.data.realcorpus``: ``i2pmae data real-corpus``."""
    from i2pmae.cli.main import main as cli

    return cli(["data", "real-corpus", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
