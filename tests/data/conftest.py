"""Tiny fixtures in the real on-disk formats (exact names, keys, dtypes and layouts of docs/data.md §1)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

CLASSES3 = ["airplane", "bathtub", "bed"]


def rand_cloud(rng: np.random.Generator, n: int, cols: int = 3) -> np.ndarray:
    pts = rng.normal(size=(n, cols)).astype(np.float32)
    pts[:, :3] = pts[:, :3] * rng.uniform(0.5, 2.0, 3) + rng.uniform(-1, 1, 3)
    return pts


def write_shapenet55(root: Path, per_class: int = 2, n: int = 8192, seed: int = 0) -> dict[str, np.ndarray]:
    """ShapeNet55-34/shapenet_pc/<synset>-<id>.npy (n,3) + ShapeNet-55/{train,test}.txt; 3 synsets."""
    rng = np.random.default_rng(seed)
    base = root / "ShapeNet55-34"
    (base / "shapenet_pc").mkdir(parents=True)
    (base / "ShapeNet-55").mkdir(parents=True)
    arrays, train, test = {}, [], []
    for synset in ("02691156", "02747177", "02773838"):
        for i in range(per_class + 1):
            name = f"{synset}-{i:04x}abcd.npy"
            arr = rand_cloud(rng, n)
            np.save(base / "shapenet_pc" / name, arr)
            arrays[name] = arr
            (test if i == per_class else train).append(name)
    (base / "ShapeNet-55" / "train.txt").write_text("\n".join(train) + "\n")
    (base / "ShapeNet-55" / "test.txt").write_text("\n".join(test) + "\n")
    return arrays


def modelnet_folder(root: Path) -> Path:
    folder = root / "ModelNet" / "modelnet40_normal_resampled"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modelnet40_shape_names.txt").write_text("\n".join(CLASSES3) + "\n")
    return folder


def write_modelnet_txt(root: Path, per_class: int = 2, n: int = 300, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw resampled text files: <class>/<class>_NNNN.txt, comma-separated x,y,z,nx,ny,nz."""
    rng = np.random.default_rng(seed)
    folder = modelnet_folder(root)
    clouds, ids = {}, {"train": [], "test": []}
    for c in CLASSES3:
        (folder / c).mkdir(exist_ok=True)
        for i in range(per_class + 1):
            sid = f"{c}_{i + 1:04d}"
            arr = rand_cloud(rng, n, 6)
            np.savetxt(folder / c / f"{sid}.txt", arr, fmt="%.6f", delimiter=",")
            clouds[sid] = np.loadtxt(folder / c / f"{sid}.txt", delimiter=",").astype(np.float32)
            ids["test" if i == per_class else "train"].append(sid)
    for split, names in ids.items():
        (folder / f"modelnet40_{split}.txt").write_text("\n".join(names) + "\n")
    return clouds


def write_modelnet_dat(root: Path, npoints: int = 64, per_class: int = 2, seed: int = 0,
                       protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, tuple[list, list]]:
    """modelnet40_{split}_{npoints}pts_fps.dat = pickle.dump([points_list (npoints,6) f32, labels_list int32 (1,)])."""
    rng = np.random.default_rng(seed)
    folder = modelnet_folder(root)
    out = {}
    for split, count in (("train", per_class), ("test", 1)):
        points, labels, ids = [], [], []
        for k, c in enumerate(CLASSES3):
            for i in range(count):
                points.append(rand_cloud(rng, npoints, 6))
                labels.append(np.array([k]).astype(np.int32))
                ids.append(f"{c}_{i + 1:04d}")
        with open(folder / f"modelnet40_{split}_{npoints}pts_fps.dat", "wb") as f:
            pickle.dump([points, labels], f, protocol=protocol)
        (folder / f"modelnet40_{split}.txt").write_text("\n".join(ids) + "\n")
        out[split] = (points, labels)
    return out


def write_modelnet_h5(root: Path, n_points: int = 2048, seed: int = 0) -> dict[str, list[tuple]]:
    """modelnet40_ply_hdf5_2048/ply_data_{train0,train1,test0}.h5: data (n,P,3) f32, label (n,1) uint8."""
    rng = np.random.default_rng(seed)
    folder = root / "modelnet40_ply_hdf5_2048"
    folder.mkdir(parents=True)
    out: dict[str, list] = {"train": [], "test": []}
    for name, n in (("train1", 3), ("train0", 4), ("test0", 3)):
        data = np.stack([rand_cloud(rng, n_points) for _ in range(n)])
        label = (np.arange(n) % 3).reshape(n, 1).astype(np.uint8)
        with h5py.File(folder / f"ply_data_{name}.h5", "w") as f:
            f.create_dataset("data", data=data)
            f.create_dataset("label", data=label)
            f.create_dataset("normal", data=np.zeros_like(data))
            f.create_dataset("faceId", data=np.zeros((n, n_points), np.int32))
        out[name[:-1]].append((name, data, label))
    (folder / "shape_names.txt").write_text("\n".join(CLASSES3) + "\n")
    return out


def write_fewshot(root: Path, way: int = 3, shot: int = 2, fold: int = 0, npoints: int = 64, seed: int = 0,
                  protocol: int = pickle.DEFAULT_PROTOCOL) -> dict:
    """ModelNetFewshot/{W}way_{S}shot/{F}.pkl = pickle.dump({'train': [(pts (P,6), new, orig)...], 'test': [...]})."""
    rng = np.random.default_rng(seed)
    originals = [np.int32(7), np.int32(2), np.int32(30)][:way]  # label[0] of an int32 (1,) array, as pickled
    data = {"train": [], "test": []}
    for i, orig in enumerate(originals):
        data["train"] += [(rand_cloud(rng, npoints, 6), i, orig) for _ in range(shot)]
        data["test"] += [(rand_cloud(rng, npoints, 6), i, orig) for _ in range(2)]
    folder = root / "ModelNetFewshot" / f"{way}way_{shot}shot"
    folder.mkdir(parents=True)
    with open(folder / f"{fold}.pkl", "wb") as f:
        pickle.dump(data, f, protocol=protocol)
    return data


SCAN_FILES = {
    "obj_bg": ("main_split", "_objectdataset.h5"),
    "obj_only": ("main_split_nobg", "_objectdataset.h5"),
    "pb_t50_rs": ("main_split", "_objectdataset_augmentedrot_scale75.h5"),
}


def write_scanobjectnn(root: Path, n_points: int = 2048, seed: int = 0) -> dict[tuple[str, str], tuple]:
    """ScanObjectNN/<folder>/{training,test}<suffix>: data (n,P,3) f32, label (n,), mask (n,P)."""
    rng = np.random.default_rng(seed)
    out = {}
    for variant, (folder, suffix) in SCAN_FILES.items():
        d = root / "ScanObjectNN" / folder
        d.mkdir(parents=True, exist_ok=True)
        for split, prefix in (("train", "training"), ("test", "test")):
            n = 4 if split == "train" else 2
            data = np.stack([rand_cloud(rng, n_points) for _ in range(n)])
            label = rng.integers(0, 15, n).astype(np.int64)
            with h5py.File(d / f"{prefix}{suffix}", "w") as f:
                f.create_dataset("data", data=data)
                f.create_dataset("label", data=label)
                f.create_dataset("mask", data=np.zeros((n, n_points), np.int64))
            out[(variant, split)] = (data, label)
    return out


PART_CATS = [("Airplane", "02691156", [0, 1, 2, 3]), ("Bag", "02773838", [4, 5]), ("Cap", "02954340", [6, 7])]


def write_shapenetpart(root: Path, n: int = 200, seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """shapenetcore_partanno_segmentation_benchmark_v0_normal with 3 categories x (train 2, val 1, test 1)."""
    rng = np.random.default_rng(seed)
    base = root / "shapenetcore_partanno_segmentation_benchmark_v0_normal"
    (base / "train_test_split").mkdir(parents=True)
    (base / "synsetoffset2category.txt").write_text("".join(f"{name}\t{syn}\n" for name, syn, _ in PART_CATS))
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    shapes = {}
    for k, (name, syn, parts) in enumerate(PART_CATS):
        (base / syn).mkdir()
        for i, split in enumerate(["train", "train", "val", "test"]):
            mid = f"{syn[-3:]}{i:03d}ff"
            xyz = rand_cloud(rng, n)
            xyz = xyz - xyz.mean(0)
            xyz /= np.linalg.norm(xyz, axis=1).max()  # already normalised: rows can be matched after loading
            seg = rng.choice(parts, n)
            rows = np.concatenate([xyz, rng.normal(size=(n, 3)), seg[:, None]], axis=1)
            np.savetxt(base / syn / f"{mid}.txt", rows, fmt="%.6f")
            lists[split].append(f"shape_data/{syn}/{mid}")
            shapes[f"{syn}/{mid}"] = (xyz, seg, k)
    for split, entries in lists.items():
        (base / "train_test_split" / f"shuffled_{split}_file_list.json").write_text(json.dumps(entries))
    return shapes


def write_folder(root: Path, seed: int = 0) -> dict[str, list[str]]:
    """User data: root/<class>/<files> with every supported suffix."""
    import trimesh

    rng = np.random.default_rng(seed)
    files: dict[str, list[str]] = {"chairs": [], "mugs": []}
    (root / "mugs").mkdir(parents=True)
    (root / "chairs").mkdir(parents=True)
    box = trimesh.creation.box(extents=(1.0, 2.0, 0.5))
    ico = trimesh.creation.icosphere(subdivisions=2)
    for ext, mesh in (("ply", box), ("obj", ico), ("off", box), ("stl", ico), ("glb", box)):
        mesh.export(root / "chairs" / f"m_{ext}.{ext}")
        files["chairs"].append(f"m_{ext}.{ext}")
    np.save(root / "mugs" / "a.npy", rand_cloud(rng, 500))
    np.savez(root / "mugs" / "b.npz", xyz=rand_cloud(rng, 500), other=np.zeros(3))
    np.savetxt(root / "mugs" / "c.txt", rand_cloud(rng, 500, 6), fmt="%.5f")
    np.savetxt(root / "mugs" / "d.xyz", rand_cloud(rng, 500), fmt="%.5f", delimiter=",")
    np.savetxt(root / "mugs" / "e.pts", rand_cloud(rng, 500), fmt="%.5f", header="500", comments="")
    trimesh.PointCloud(rand_cloud(rng, 500)).export(root / "mugs" / "f.ply")  # a .ply of vertices only
    files["mugs"] = ["a.npy", "b.npz", "c.txt", "d.xyz", "e.pts", "f.ply"]
    return files


@pytest.fixture
def fx() -> SimpleNamespace:
    """The fixture writers, as one namespace."""
    return SimpleNamespace(
        rand_cloud=rand_cloud, write_shapenet55=write_shapenet55, write_modelnet_txt=write_modelnet_txt,
        write_modelnet_dat=write_modelnet_dat, write_modelnet_h5=write_modelnet_h5, write_fewshot=write_fewshot,
        write_scanobjectnn=write_scanobjectnn, write_shapenetpart=write_shapenetpart, write_folder=write_folder,
        CLASSES3=CLASSES3, PART_CATS=PART_CATS, SCAN_FILES=SCAN_FILES,
    )


def normalize_ref(pts: np.ndarray) -> np.ndarray:
    """From-scratch pc_normalize: centroid to 0, farthest point at radius 1."""
    centred = pts - pts.mean(axis=0)
    return centred / np.sqrt((centred ** 2).sum(axis=1)).max()


def fps_ref(pts: np.ndarray, n: int) -> np.ndarray:
    """Brute-force FPS from index 0 (squared distances to the chosen set, first max wins)."""
    chosen = [0]
    for _ in range(n - 1):
        d = ((pts[:, None, :] - pts[chosen][None, :, :]) ** 2).sum(-1).min(axis=1)
        chosen.append(int(np.argmax(d)))
    return np.array(chosen)


@pytest.fixture
def ref() -> SimpleNamespace:
    return SimpleNamespace(normalize=normalize_ref, fps=fps_ref)
