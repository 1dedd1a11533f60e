"""Teacher cache and the lean teacher on every available device (CPU always; CUDA when present,
e.g. by benchmarks/gpu_check.sh): the device's results agree with CPU float32."""

import pytest
import torch

from i2pmae.data import build_dataset
from i2pmae.data.teacher_cache import CachedTeacherDataset, TeacherCache, teacher_maps
from i2pmae.engine.distributed import DistInfo
from i2pmae.tasks.pretrain import build_pretrain_model
from i2pmae.tasks.teacher_cache import build_teacher_cache
from i2pmae.teachers import build_teacher

from helpers_cache import TINY_TEACHER, guided_config
from helpers_loop import write_shapenet55

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_cache_built_on_device_and_cached_step(tmp_path, device):
    root = write_shapenet55(tmp_path / "data", n=4, points=256)
    cfg = guided_config(root)
    build_teacher_cache(cfg, tmp_path / "dev", batch_size=4, shard_size=4, dist=DistInfo(device=torch.device(device)))
    if device != "cpu":
        build_teacher_cache(cfg, tmp_path / "cpu", batch_size=4, shard_size=4)
    ref, dev = TeacherCache(tmp_path / ("cpu" if device != "cpu" else "dev")), TeacherCache(tmp_path / "dev")
    for s in ref.shapes:  # fp16 teacher on CUDA ('auto'), fp32 on CPU
        a, b = ref.read(s["name"]), dev.read(s["name"])
        scale = abs(a["feats"].astype("float32")).max()
        assert abs(a["feats"].astype("float32") - b["feats"].astype("float32")).max() <= 1e-2 * scale
        assert (a["pixels"] == b["pixels"]).all() and a["crc"] == b["crc"]
    data = CachedTeacherDataset(build_dataset(cfg["data"]["dataset"], "train"), dev)
    batch = torch.utils.data.default_collate([data[i] for i in range(4)])
    losses = []
    for where in dict.fromkeys(("cpu", device)):
        torch.manual_seed(0)
        model = build_pretrain_model(cfg, torch.device(where), dev).to(where)
        moved = {k: v.to(where) for k, v in teacher_maps(batch).items()}
        out = model(batch["points"].to(where), generator=torch.Generator().manual_seed(1), teacher_maps=moved)
        out["loss"].backward()
        assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
        losses.append(out["loss"].item())
    assert abs(losses[0] - losses[-1]) <= 1e-3 * abs(losses[0])


@pytest.mark.parametrize("device", DEVICES)
def test_lean_teacher_on_device_matches_cpu_fp32(device):
    torch.manual_seed(0)
    images = torch.randn(3, 3, 64, 64)
    ref = build_teacher("tiny-vit", weights="random", arch_overrides=TINY_TEACHER["arch_overrides"])
    low = "bf16" if device == "cpu" else "auto"  # auto = fp16 on CUDA
    t = build_teacher("tiny-vit", weights="random", arch_overrides=TINY_TEACHER["arch_overrides"], dtype=low,
                      device=device)
    t.load_state_dict(ref.state_dict())
    (f0, a0), (f1, a1) = ref(images), t(images.to(device))
    assert f1.device.type == device and f1.dtype == torch.float32
    assert (f1.cpu() - f0).abs().max() <= 3e-2 * f0.abs().max()
    assert (a1.cpu() - a0).abs().max() <= 3e-2 * a0.abs().max()
