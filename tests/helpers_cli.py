"""Tiny datasets in the published on-disk formats and tiny model overrides for the CLI end-to-end tests.

The writers follow tests/data/conftest.py (exact file names, keys, dtypes and layouts of docs/data.md §1),
reduced to what the commands need: a handful of clouds of a few hundred points, at least two classes.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest
import torch

from i2pmae.cli.main import main


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads on a busy 2-core machine; one thread avoids contention.
    Autouse in the folders whose conftest imports it (tests/cli, tests/zeroshot)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

# Encoder of every tiny network (pre-training, classifiers, segmentation): scale-3 width 64.
TINY_ENCODER = [
    "model.num_groups=[32,16,8]", "model.group_sizes=[8,4,4]", "model.encoder_dims=[16,32,64]",
    "model.encoder_depths=[1,1,1]", "model.num_heads=2", "model.embed_widths=[8,16,32]",
    "model.drop_path_rate=0.0",
]
TINY_PRETRAIN = TINY_ENCODER + ["model.decoder_dims=[64,32]", "model.decoder_depths=[1,1]"]
# A 1-block, 32-wide tiny-vit with random weights (with `--teacher tiny-vit`): the 2D branch runs for real, fast.
TINY_TEACHER = [
    "teacher.name=tiny-vit", "teacher.weights=random",
    "teacher.arch_overrides={embed_dim: 32, depth: 1, num_heads: 2, feature_dim: 16}",
]
FAST_TRAIN = [
    "train.batch_size=4", "train.warmup_epochs=0", "train.amp=none", "train.num_workers=0",
    "train.checkpoint_every_steps=0",
]
CLASSES = ["airplane", "bathtub", "bed"]


def run_cli(*argv: object) -> int:
    """`i2pmae ARGV...` in-process; returns the exit code (argparse's SystemExit code included)."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse: --help, usage errors
        return int(exc.code or 0)


def _cloud(rng: np.random.Generator, n: int, label: int, cols: int = 3) -> np.ndarray:
    """A class-dependent shape (0: cube surface-ish, 1: sphere, 2: flat disk) plus noise, so SVMs have signal."""
    x = rng.normal(size=(n, 3))
    if label % 3 == 0:
        x = np.clip(x, -1, 1)
    elif label % 3 == 1:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    else:
        x[:, 2] *= 0.05
    x = x + rng.normal(scale=0.02, size=x.shape)
    out = np.zeros((n, cols), np.float32)
    out[:, :3] = x
    if cols > 3:
        out[:, 3:] = rng.normal(size=(n, cols - 3))
    return out


def write_shapenet55(root: Path, n: int = 8, points: int = 256, seed: int = 0) -> Path:
    """root/ShapeNet55-34/{shapenet_pc/<synset>-<id>.npy, ShapeNet-55/{train,test}.txt}."""
    rng = np.random.default_rng(seed)
    base = root / "ShapeNet55-34"
    (base / "shapenet_pc").mkdir(parents=True)
    (base / "ShapeNet-55").mkdir(parents=True)
    names = []
    for i in range(n):
        name = f"0{2691156 + i % 2}-{i:04x}abcd.npy"
        np.save(base / "shapenet_pc" / name, _cloud(rng, points, i % 2))
        names.append(name)
    (base / "ShapeNet-55" / "train.txt").write_text("\n".join(names) + "\n")
    (base / "ShapeNet-55" / "test.txt").write_text("\n".join(names[:2]) + "\n")
    return root


def write_modelnet_h5(root: Path, n_points: int = 256, train: int = 9, test: int = 6, seed: int = 0) -> Path:
    """root/modelnet40_ply_hdf5_2048/ply_data_{train0,train1,test0}.h5: data (n,P,3) f32, label (n,1) uint8."""
    rng = np.random.default_rng(seed)
    folder = root / "modelnet40_ply_hdf5_2048"
    folder.mkdir(parents=True)
    sizes = {"train0": train - train // 2, "train1": train // 2, "test0": test}
    for name, n in sizes.items():
        labels = np.arange(n) % len(CLASSES)
        data = np.stack([_cloud(rng, n_points, int(k)) for k in labels])
        with h5py.File(folder / f"ply_data_{name}.h5", "w") as f:
            f.create_dataset("data", data=data)
            f.create_dataset("label", data=labels.reshape(n, 1).astype(np.uint8))
            f.create_dataset("normal", data=np.zeros_like(data))
            f.create_dataset("faceId", data=np.zeros((n, n_points), np.int32))
    (folder / "shape_names.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def write_scanobjectnn(root: Path, n_points: int = 256, train: int = 6, test: int = 4, seed: int = 0) -> Path:
    """root/ScanObjectNN/main_split/{training,test}_objectdataset.h5 (OBJ-BG): data, label (n,), mask."""
    rng = np.random.default_rng(seed)
    d = root / "ScanObjectNN" / "main_split"
    d.mkdir(parents=True)
    for prefix, n in (("training", train), ("test", test)):
        labels = (np.arange(n) % 3 * 5).astype(np.int64)  # 3 of the 15 classes
        data = np.stack([_cloud(rng, n_points, int(k) // 5) for k in labels])
        with h5py.File(d / f"{prefix}_objectdataset.h5", "w") as f:
            f.create_dataset("data", data=data)
            f.create_dataset("label", data=labels)
            f.create_dataset("mask", data=np.zeros((n, n_points), np.int64))
    return root


def write_fewshot(root: Path, way: int = 2, shot: int = 2, folds: tuple[int, ...] = (0, 1), npoints: int = 128,
                  seed: int = 0) -> Path:
    """root/ModelNetFewshot/{W}way_{S}shot/{F}.pkl = {'train'|'test': [(pts (P,6), label, original label)]}."""
    rng = np.random.default_rng(seed)
    folder = root / "ModelNetFewshot" / f"{way}way_{shot}shot"
    folder.mkdir(parents=True)
    for fold in folds:
        data: dict[str, list] = {"train": [], "test": []}
        for i in range(way):
            orig = np.int32(7 * i + fold)
            data["train"] += [(_cloud(rng, npoints, i, 6), i, orig) for _ in range(shot)]
            data["test"] += [(_cloud(rng, npoints, i, 6), i, orig) for _ in range(2)]
        with open(folder / f"{fold}.pkl", "wb") as f:
            pickle.dump(data, f)
    return root


PART_CATS = [("Airplane", "02691156", [0, 1, 2, 3]), ("Bag", "02773838", [4, 5]), ("Cap", "02954340", [6, 7])]


def write_shapenetpart(root: Path, n: int = 160, seed: int = 0) -> Path:
    """shapenetcore_partanno_segmentation_benchmark_v0_normal: 3 categories x (train 2, val 1, test 1)."""
    rng = np.random.default_rng(seed)
    base = root / "shapenetcore_partanno_segmentation_benchmark_v0_normal"
    (base / "train_test_split").mkdir(parents=True)
    (base / "synsetoffset2category.txt").write_text("".join(f"{name}\t{syn}\n" for name, syn, _ in PART_CATS))
    lists: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k, (_, syn, parts) in enumerate(PART_CATS):
        (base / syn).mkdir()
        for i, split in enumerate(["train", "train", "val", "test"]):
            mid = f"{syn[-3:]}{i:03d}ff"
            xyz = _cloud(rng, n, k)
            seg = np.asarray(parts)[np.argsort(np.argsort(xyz[:, 0])) * len(parts) // n]  # parts along x
            rows = np.concatenate([xyz, rng.normal(size=(n, 3)), seg[:, None]], axis=1)
            np.savetxt(base / syn / f"{mid}.txt", rows, fmt="%.6f")
            lists[split].append(f"shape_data/{syn}/{mid}")
    for split, entries in lists.items():
        (base / "train_test_split" / f"shuffled_{split}_file_list.json").write_text(json.dumps(entries))
    return root


def read_metrics(run_dir: Path) -> list[dict]:
    """The rows of RUN/metrics.jsonl."""
    return [json.loads(line) for line in (Path(run_dir) / "metrics.jsonl").read_text().splitlines() if line.strip()]


def pretrain_args(cli_data: SimpleNamespace, config: str, out: Path, *extra: str, flags: tuple = ()) -> list:
    """`pretrain -c CONFIG` made tiny: 8 ShapeNet-55 clouds of 128 points, SVM monitor on the HDF5 fixture."""
    return ["pretrain", "-c", config, "--out", out, "--device", "cpu", *flags, *TINY_PRETRAIN, *FAST_TRAIN,
            "train.epochs=2", "train.cosine_epochs=2",
            f"data.dataset.root={cli_data.shapenet55}", "data.dataset.npoints=128", "data.npoints=128",
            f"data.svm.root={cli_data.modelnet_h5}", "data.svm.npoints=128", "svm.batch_size=16", *extra]
