"""Procedural shapes: the built-in data, written in the real ShapeNet-55 and ModelNet40-HDF5 layouts.

Fifteen classes of primitives and composites with random proportions, a
random pose (any turn about the up axis plus a small tilt) and Gaussian noise,
sampled uniformly by area on their surfaces with vectorised numpy. Every shape
comes from its own seed ``(seed, class, i)``, so the output does not depend
on which classes are generated or in what order. Because the files follow the
real layouts, the built-in data runs through the real readers.

Shapes are built z-up and turned y-up at the end (ShapeNet/ModelNet convention).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

Part = tuple[float, Callable[[np.random.Generator, int], np.ndarray]]  # (area, sampler)

CLASSES = ["sphere", "box", "cylinder", "cone", "torus", "capsule", "pyramid", "table", "chair", "lamp", "mug",
           "airplane", "bottle", "shelf", "house"]

# --------------------------------------------------------------------------- primitives (area, sampler)


def _place(pts: np.ndarray, center: Sequence[float], rot: np.ndarray | None) -> np.ndarray:
    if rot is not None:
        pts = pts @ rot.T
    return pts + np.asarray(center, dtype=np.float64)


def box(center: Sequence[float], size: Sequence[float], skip: Sequence[int] = ()) -> Part:
    """Surface of an axis-aligned box; ``skip`` drops faces (0..5 = -x,+x,-y,+y,-z,+z)."""
    size = np.asarray(size, dtype=np.float64)
    faces = [f for f in range(6) if f not in skip]
    areas = np.array([np.prod(np.delete(size, f // 2)) for f in faces])

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        pts = (rng.random((n, 3)) - 0.5) * size
        start = 0
        for f, c in zip(faces, rng.multinomial(n, areas / areas.sum())):
            pts[start:start + c, f // 2] = (0.5 if f % 2 else -0.5) * size[f // 2]
            start += c
        return pts + np.asarray(center)

    return float(areas.sum()), sample


def frustum(center: Sequence[float], r0: float, r1: float, h: float, bottom: bool = True, top: bool = True,
            rot: np.ndarray | None = None) -> Part:
    """Lateral surface of a (truncated) cone along +z from ``center``, optional caps; r0 == r1 is a cylinder."""
    slant = np.hypot(h, r0 - r1)
    lateral = np.pi * (r0 + r1) * slant
    areas = np.array([lateral, np.pi * r0 ** 2 if bottom else 0.0, np.pi * r1 ** 2 if top else 0.0])

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        n_side, n_bottom, n_top = rng.multinomial(n, areas / areas.sum())
        theta = rng.random(n) * 2 * np.pi
        u = rng.random(n)
        rad, z = np.empty(n), np.empty(n)
        if abs(r1 - r0) < 1e-9:
            rad[:n_side], z[:n_side] = r0, u[:n_side] * h
        else:  # density along the side grows with the radius
            rad[:n_side] = np.sqrt(r0 ** 2 + u[:n_side] * (r1 ** 2 - r0 ** 2))
            z[:n_side] = (rad[:n_side] - r0) / (r1 - r0) * h
        rad[n_side:n_side + n_bottom] = r0 * np.sqrt(u[n_side:n_side + n_bottom])
        z[n_side:n_side + n_bottom] = 0.0
        rad[n_side + n_bottom:] = r1 * np.sqrt(u[n_side + n_bottom:])
        z[n_side + n_bottom:] = h
        pts = np.stack([rad * np.cos(theta), rad * np.sin(theta), z], axis=1)
        return _place(pts, center, rot)

    return float(areas.sum()), sample


def ellipsoid(center: Sequence[float], radii: Sequence[float], upper_only: bool = False,
              lower_only: bool = False) -> Part:
    """Ellipsoid surface (direction-uniform, close to area-uniform for mild ratios); halves for capsules."""
    a, b, c = radii
    p = 1.6075
    area = 4 * np.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3) ** (1 / p)
    if upper_only or lower_only:
        area /= 2

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        d = rng.normal(size=(n, 3))
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        if upper_only:
            d[:, 2] = np.abs(d[:, 2])
        if lower_only:
            d[:, 2] = -np.abs(d[:, 2])
        return d * np.asarray(radii) + np.asarray(center)

    return float(area), sample


def torus(center: Sequence[float], big_r: float, small_r: float, arc: float = 2 * np.pi, start: float = 0.0,
          rot: np.ndarray | None = None) -> Part:
    """Torus about z (or an arc of it), area-uniform by rejection on the tube angle."""
    area = arc * big_r * 2 * np.pi * small_r

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        phi = np.empty(0)
        while len(phi) < n:
            cand = rng.random(2 * n) * 2 * np.pi
            keep = rng.random(2 * n) * (big_r + small_r) < big_r + small_r * np.cos(cand)
            phi = np.concatenate([phi, cand[keep]])
        phi = phi[:n]
        theta = start + rng.random(n) * arc
        ring = big_r + small_r * np.cos(phi)
        pts = np.stack([ring * np.cos(theta), ring * np.sin(theta), small_r * np.sin(phi)], axis=1)
        return _place(pts, center, rot)

    return float(area), sample


def triangles(tris: np.ndarray) -> Part:
    """Flat triangles (F, 3, 3), area-weighted (a loop over the few faces beats a gather)."""
    tris = np.asarray(tris, dtype=np.float64)
    a, b, c = tris[:, 0], tris[:, 1], tris[:, 2]
    areas = 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)

    def sample(rng: np.random.Generator, n: int) -> np.ndarray:
        u, v = rng.random((2, n))
        flip = u + v > 1
        u, v = np.where(flip, 1 - u, u), np.where(flip, 1 - v, v)
        weights = np.stack([1 - u - v, u, v], axis=1)
        out = np.empty((n, 3))
        start = 0
        for f, cnt in enumerate(rng.multinomial(n, areas / areas.sum())):
            out[start:start + cnt] = weights[start:start + cnt] @ tris[f]
            start += cnt
        return out

    return float(areas.sum()), sample


def quad(p0, p1, p2, p3) -> np.ndarray:
    """Two triangles of a planar quadrilateral given in order."""
    return np.array([[p0, p1, p2], [p0, p2, p3]], dtype=np.float64)


ROT_X90 = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # turns z-axis primitives to lie along y

# --------------------------------------------------------------------------- the classes


def _sphere(rng: np.random.Generator) -> list[Part]:
    return [ellipsoid((0, 0, 0), 1 + rng.uniform(-0.15, 0.15, 3))]


def _box(rng: np.random.Generator) -> list[Part]:
    return [box((0, 0, 0), rng.uniform(0.5, 1.5, 3))]


def _cylinder(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.3, 0.7), rng.uniform(0.6, 2.0)
    return [frustum((0, 0, -h / 2), r, r, h)]


def _cone(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.4, 0.9), rng.uniform(0.8, 2.0)
    return [frustum((0, 0, -h / 2), r, rng.uniform(0.0, 0.06), h)]


def _torus(rng: np.random.Generator) -> list[Part]:
    big = rng.uniform(0.6, 1.0)
    return [torus((0, 0, 0), big, big * rng.uniform(0.15, 0.4))]


def _capsule(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.25, 0.5), rng.uniform(0.5, 1.8)
    return [frustum((0, 0, -h / 2), r, r, h, bottom=False, top=False),
            ellipsoid((0, 0, h / 2), (r, r, r), upper_only=True),
            ellipsoid((0, 0, -h / 2), (r, r, r), lower_only=True)]


def _pyramid(rng: np.random.Generator) -> list[Part]:
    w, d, h = rng.uniform(0.8, 1.6), rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.6)
    c = [(-w / 2, -d / 2, 0), (w / 2, -d / 2, 0), (w / 2, d / 2, 0), (-w / 2, d / 2, 0)]
    apex = (rng.uniform(-0.1, 0.1) * w, rng.uniform(-0.1, 0.1) * d, h)
    sides = [[c[i], c[(i + 1) % 4], apex] for i in range(4)]
    return [triangles(np.concatenate([np.array(sides), quad(*c)]))]


def _legs(rng: np.random.Generator, w: float, d: float, h: float, thick: float, inset: float) -> list[Part]:
    xs, ys = (w / 2 - inset - thick / 2), (d / 2 - inset - thick / 2)
    return [box((sx * xs, sy * ys, h / 2), (thick, thick, h), skip=(4, 5)) for sx in (-1, 1) for sy in (-1, 1)]


def _table(rng: np.random.Generator) -> list[Part]:
    w, d, t = rng.uniform(1.2, 2.0), rng.uniform(0.6, 1.2), rng.uniform(0.04, 0.1)
    h, leg, inset = rng.uniform(0.6, 1.0), rng.uniform(0.04, 0.1), rng.uniform(0.02, 0.15)
    return [box((0, 0, h + t / 2), (w, d, t))] + _legs(rng, w, d, h, leg, inset)


def _chair(rng: np.random.Generator) -> list[Part]:
    w, d, t = rng.uniform(0.5, 0.8), rng.uniform(0.5, 0.8), rng.uniform(0.05, 0.1)
    h, leg = rng.uniform(0.4, 0.6), rng.uniform(0.04, 0.07)
    back_h, back_t = rng.uniform(0.5, 0.9), rng.uniform(0.04, 0.08)
    parts = [box((0, 0, h + t / 2), (w, d, t))] + _legs(rng, w, d, h, leg, 0.0)
    parts.append(box((0, -d / 2 + back_t / 2, h + t + back_h / 2), (w, back_t, back_h)))
    return parts


def _lamp(rng: np.random.Generator) -> list[Part]:
    base_r, base_h = rng.uniform(0.25, 0.45), rng.uniform(0.03, 0.08)
    pole_r, pole_h = rng.uniform(0.02, 0.04), rng.uniform(0.8, 1.5)
    r0, r1, sh = rng.uniform(0.3, 0.5), rng.uniform(0.1, 0.25), rng.uniform(0.25, 0.45)
    top = base_h + pole_h
    return [frustum((0, 0, 0), base_r, base_r, base_h),
            frustum((0, 0, base_h), pole_r, pole_r, pole_h, bottom=False),
            frustum((0, 0, top - sh * 0.6), r0, r1, sh, bottom=False, top=False)]


def _mug(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.35, 0.5), rng.uniform(0.6, 1.0)
    big, small = rng.uniform(0.18, 0.28) * h / 0.8, rng.uniform(0.035, 0.06)
    handle = torus((r, 0, h / 2), big, small, arc=np.pi, start=-np.pi / 2, rot=ROT_X90)
    return [frustum((0, 0, 0), r, r, h, bottom=True, top=False), handle]


def _airplane(rng: np.random.Generator) -> list[Part]:
    length, rad = rng.uniform(1.5, 2.2), rng.uniform(0.1, 0.18)
    span, chord, wx = rng.uniform(1.4, 2.2), rng.uniform(0.25, 0.45), rng.uniform(-0.1, 0.2)
    fin_h, fin_c = rng.uniform(0.3, 0.5), rng.uniform(0.2, 0.3)
    stab = rng.uniform(0.5, 0.8)
    tail = -length / 2 + fin_c / 2
    return [ellipsoid((0, 0, 0), (length / 2, rad, rad)),
            box((wx, 0, 0), (chord, span, 0.03)),
            box((tail, 0, rad + fin_h / 2), (fin_c, 0.03, fin_h)),
            box((tail, 0, rad * 0.5), (fin_c * 0.8, stab, 0.025))]


def _bottle(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.25, 0.4), rng.uniform(0.8, 1.3)
    neck_r, sh, neck_h = rng.uniform(0.07, 0.12), rng.uniform(0.15, 0.35), rng.uniform(0.2, 0.4)
    return [frustum((0, 0, 0), r, r, h, bottom=True, top=False),
            frustum((0, 0, h), r, neck_r, sh, bottom=False, top=False),
            frustum((0, 0, h + sh), neck_r, neck_r, neck_h, bottom=False, top=False)]


def _shelf(rng: np.random.Generator) -> list[Part]:
    w, d, h, t = rng.uniform(0.8, 1.4), rng.uniform(0.3, 0.5), rng.uniform(1.2, 2.0), rng.uniform(0.03, 0.06)
    boards = int(rng.integers(3, 6))
    parts = [box((sx * (w / 2 - t / 2), 0, h / 2), (t, d, h)) for sx in (-1, 1)]
    for z in np.linspace(t / 2, h - t / 2, boards):
        parts.append(box((0, 0, z), (w - 2 * t, d, t)))
    if rng.random() < 0.5:
        parts.append(box((0, d / 2 - t / 4, h / 2), (w - 2 * t, t / 2, h)))
    return parts


def _house(rng: np.random.Generator) -> list[Part]:
    w, d, h = rng.uniform(0.8, 1.5), rng.uniform(0.8, 1.5), rng.uniform(0.6, 1.1)
    rh, o = rng.uniform(0.3, 0.8), rng.uniform(0.0, 0.1)
    x0, x1, y0, y1 = -w / 2 - o, w / 2 + o, -d / 2 - o, d / 2 + o
    ridge0, ridge1 = (x0, 0, h + rh), (x1, 0, h + rh)
    roof = np.concatenate([quad((x0, y0, h), (x1, y0, h), ridge1, ridge0),
                           quad((x0, y1, h), (x1, y1, h), ridge1, ridge0),
                           np.array([[(-w / 2, -d / 2, h), (-w / 2, d / 2, h), (-w / 2, 0, h + rh)],
                                     [(w / 2, -d / 2, h), (w / 2, d / 2, h), (w / 2, 0, h + rh)]])])
    return [box((0, 0, h / 2), (w, d, h), skip=(5,)), triangles(roof)]


BUILDERS: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "sphere": _sphere, "box": _box, "cylinder": _cylinder, "cone": _cone, "torus": _torus, "capsule": _capsule,
    "pyramid": _pyramid, "table": _table, "chair": _chair, "lamp": _lamp, "mug": _mug, "airplane": _airplane,
    "bottle": _bottle, "shelf": _shelf, "house": _house,
}

# --------------------------------------------------------------------------- sampling and pose


def _rotation(yaw: float, tilt_axis: float, tilt: float) -> np.ndarray:
    """Turn about z by ``yaw``, then tip by ``tilt`` about a horizontal axis at angle ``tilt_axis``."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    rz = np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1.0]])
    k = np.array([np.cos(tilt_axis), np.sin(tilt_axis), 0.0])
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    tip = np.eye(3) + np.sin(tilt) * kx + (1 - np.cos(tilt)) * kx @ kx
    return tip @ rz


Z_UP_TO_Y_UP = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])  # (x, y, z) -> (x, z, -y), a proper rotation


def sample_shape(name: str, rng: np.random.Generator, npoints: int = 8192, noise: float = 0.01,
                 max_yaw: float = np.pi, max_tilt: float = np.deg2rad(8),
                 builders: Mapping[str, Callable] | None = None) -> np.ndarray:
    """One random shape of class ``name``: (npoints, 3) float32, normalised to the unit sphere, y up.
    ``builders`` maps names to part builders (default: the 15 built-in classes)."""
    parts = (BUILDERS if builders is None else builders)[name](rng)
    areas = np.array([a for a, _ in parts])
    counts = rng.multinomial(npoints, areas / areas.sum())
    pts = np.concatenate([fn(rng, int(c)) for (_, fn), c in zip(parts, counts) if c > 0])
    rot = _rotation(rng.uniform(-max_yaw, max_yaw), rng.uniform(0, 2 * np.pi), rng.uniform(0, max_tilt))
    pts = pts[rng.permutation(len(pts))] @ (Z_UP_TO_Y_UP @ rot).T
    pts -= pts.mean(axis=0)
    pts *= 1.0 / np.sqrt(np.einsum("ij,ij->i", pts, pts).max())
    pts += noise * rng.standard_normal(pts.shape)
    return pts.astype(np.float32)


def resolve_classes(classes: Sequence[str] | str | int | None, choices: Sequence[str] = CLASSES,
                    what: str = "synthetic classes", hint: Callable[[set], str] | None = None) -> list[str]:
    """All of ``choices`` (None), the first K (int or digits), or named ones (list or comma-separated).
    ``what`` names them in errors; ``hint(unknown names)`` may add a sentence to the error."""
    choices = list(choices)
    if classes is None or classes == "":
        return choices
    if isinstance(classes, int) or (isinstance(classes, str) and classes.strip().isdigit()):
        k = int(classes)
        if not 2 <= k <= len(choices):
            raise ValueError(f"number of {what} must be in [2, {len(choices)}], got {k}")
        return choices[:k]
    names = [c.strip() for c in classes.split(",")] if isinstance(classes, str) else list(classes)
    unknown = [c for c in names if c not in choices]
    if unknown or len(set(names)) != len(names) or not names:
        raise ValueError(f"unknown or repeated {what} {unknown or names}; choose from {choices}"
                         f"{hint(set(unknown)) if hint else ''}")
    return names


@dataclass
class SynthSplit:
    points: np.ndarray  # (n, P, 3) float32
    labels: np.ndarray  # (n,) int64, index into classes
    ids: list[str]  # model ids


def generate(classes: Sequence[str] | str | int | None = None, per_class: int = 100, test_per_class: int | None = None,
             seed: int = 0, npoints: int = 8192, noise: float = 0.01) -> tuple[list[str], SynthSplit, SynthSplit]:
    """(class names, train split, test split) in memory; deterministic for ``seed``."""
    names = resolve_classes(classes)
    if per_class < 1:
        raise ValueError(f"per_class must be >= 1, got {per_class}")
    n_test = max(1, per_class // 4) if test_per_class is None else int(test_per_class)
    out = {"train": ([], [], []), "test": ([], [], [])}
    for label, name in enumerate(names):
        cid = CLASSES.index(name)
        total = per_class + n_test
        clouds = [sample_shape(name, np.random.default_rng([seed, cid, i]), npoints, noise) for i in range(total)]
        is_test = np.zeros(total, dtype=bool)
        is_test[np.random.default_rng([seed, cid, 0x5E1]).permutation(total)[:n_test]] = True
        for i, cloud in enumerate(clouds):
            pts, labs, ids = out["test" if is_test[i] else "train"]
            pts.append(cloud)
            labs.append(label)
            ids.append(f"synth{cid:02d}{i:05d}")
    splits = [SynthSplit(np.stack(p) if p else np.zeros((0, npoints, 3), np.float32), np.array(lab, dtype=np.int64),
                         ids) for p, lab, ids in (out["train"], out["test"])]
    return names, splits[0], splits[1]


def synset(name: str) -> str:
    """A ShapeNet-style 8-digit id for a synthetic class."""
    return f"9{CLASSES.index(name):07d}"


def write_synthetic(out: str | Path, classes: Sequence[str] | str | int | None = None, per_class: int = 100,
                    test_per_class: int | None = None, seed: int = 0, npoints: int = 8192, h5_points: int = 2048,
                    noise: float = 0.01) -> dict:
    """Write the ShapeNet-55 layout (pre-training) and the ModelNet40 HDF5 layout (SVM / fine-tuning) under ``out``."""
    import h5py

    if h5_points > npoints:
        raise ValueError(f"h5_points ({h5_points}) must not exceed npoints ({npoints})")
    names, train, test = generate(classes, per_class, test_per_class, seed, npoints, noise)
    out = Path(out)
    sn = out / "ShapeNet55-34"
    (sn / "shapenet_pc").mkdir(parents=True, exist_ok=True)
    (sn / "ShapeNet-55").mkdir(parents=True, exist_ok=True)
    for split_name, split in (("train", train), ("test", test)):
        files = []
        for cloud, label, mid in zip(split.points, split.labels, split.ids):
            fname = f"{synset(names[label])}-{mid}.npy"
            np.save(sn / "shapenet_pc" / fname, cloud)
            files.append(fname)
        (sn / "ShapeNet-55" / f"{split_name}.txt").write_text("\n".join(files) + "\n")
    (sn / "synsets.txt").write_text("".join(f"{synset(n)} {n}\n" for n in names))
    h5dir = out / "modelnet40_ply_hdf5_2048"
    h5dir.mkdir(parents=True, exist_ok=True)
    for split_name, split in (("train", train), ("test", test)):
        with h5py.File(h5dir / f"ply_data_{split_name}0.h5", "w") as f:
            f.create_dataset("data", data=split.points[:, :h5_points].astype(np.float32))
            f.create_dataset("label", data=split.labels.reshape(-1, 1).astype(np.uint8))
        (h5dir / f"{split_name}_files.txt").write_text(f"modelnet40_ply_hdf5_2048/ply_data_{split_name}0.h5\n")
    (h5dir / "shape_names.txt").write_text("\n".join(names) + "\n")
    summary = {"classes": names, "train": len(train.labels), "test": len(test.labels), "seed": seed,
               "per_class": per_class, "test_per_class": len(test.labels) // len(names), "npoints": npoints,
               "h5_points": h5_points, "noise": noise, "shapenet55_root": str(out),
               "modelnet40_h5_root": str(out)}
    (out / "synth.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
