"""Where teacher weights come from: files, the Hugging Face cache, the offline error, tiny-vit assets."""

import json

import pytest
import timm
import torch
from safetensors.torch import save_file

from i2pmae.teachers import (
    TeacherWeightsError,
    TinyViTTeacher,
    build_teacher,
    build_tiny_vit_classifier,
    load_tiny_vit,
    saliency_attention,
    save_tiny_vit,
)


@pytest.mark.parametrize("name,hub_id,archive", [
    ("clip-vit-b16", "timm/vit_base_patch16_clip_224.openai", "ViT-B-16.pt"),
    ("resnet50", "timm/resnet50.tv_in1k", None),
])
def test_offline_without_weights_is_a_clear_error(offline_env, tiny_arch, name, hub_id, archive):
    with pytest.raises(TeacherWeightsError) as err:
        build_teacher(name, arch_overrides=tiny_arch[name])
    msg = str(err.value)
    assert f"'{name}'" in msg and hub_id in msg and "--teacher-weights" in msg and "teacher.weights=" in msg
    assert str(offline_env / "hf" / "hub") in msg and "HF_HUB_OFFLINE" in msg
    if archive:
        assert str(offline_env / "clip" / archive) in msg
    assert isinstance(err.value, FileNotFoundError)


def test_missing_weights_file(tiny_arch, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'resnet50'.*nothing\.pth"):
        build_teacher("resnet50", weights=str(tmp_path / "nothing.pth"), arch_overrides=tiny_arch["resnet50"])


def _fake_hub_cache(root, repo_id, tensors):
    """A Hugging Face cache entry as huggingface_hub lays it out (refs/main -> snapshots/<rev>/)."""
    rev = "0123456789abcdef0123456789abcdef01234567"
    repo = root / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(rev)
    snap = repo / "snapshots" / rev
    snap.mkdir(parents=True)
    save_file(tensors, str(snap / "model.safetensors"))


def test_loads_from_hf_cache_offline_dropping_the_classifier(offline_env, tiny_arch, images):
    """The hub file (as timm publishes it: with the ImageNet classifier) is read from the cache offline;
    the classifier, unused by the teacher, is dropped; the features are the source network's."""
    src = timm.create_model("resnet50", num_classes=10, **tiny_arch["resnet50"]).eval()
    with torch.no_grad():  # non-trivial BN statistics, so a wrong load could not pass
        for m in src.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    _fake_hub_cache(offline_env / "hf" / "hub", "timm/resnet50.tv_in1k",
                    {k: v.contiguous() for k, v in src.state_dict().items()})
    t = build_teacher("resnet50", arch_overrides=tiny_arch["resnet50"])
    feats, _ = t(images)
    with torch.no_grad():
        ref = src.forward_features(images)
    torch.testing.assert_close(feats, ref)


def test_swin_file_with_head_loads(tiny_arch, images, tmp_path):
    """Swin: a checkpoint with its classifier loads; features = the normed last stage (NCHW), attention
    = the saliency of those features."""
    src = timm.create_model("swin_base_patch4_window7_224", num_classes=7, **tiny_arch["swin-b"]).eval()
    path = tmp_path / "swin.pth"
    torch.save(src.state_dict(), path)
    t = build_teacher("swin-b", weights=str(path), arch_overrides=tiny_arch["swin-b"])
    x = images[..., :64, :64]
    with torch.no_grad():
        ref = src.forward_features(x).permute(0, 3, 1, 2)
    feats, attn = t(x)
    torch.testing.assert_close(feats, ref)
    torch.testing.assert_close(attn, saliency_attention(ref))


def test_random_weights_only_when_asked(tiny_arch, offline_env):
    # explicit "random" works offline ...
    build_teacher("dino-vit-b16", weights="random", arch_overrides=tiny_arch["dino-vit-b16"])
    # ... while the default never falls back to it
    with pytest.raises(TeacherWeightsError, match="dino-vit-b16"):
        build_teacher("dino-vit-b16", arch_overrides=tiny_arch["dino-vit-b16"])


def test_tiny_vit_save_load_roundtrip(tiny_arch, images, tmp_path):
    cfg = dict(tiny_arch["tiny-vit"])
    clf = build_tiny_vit_classifier(**cfg)
    with torch.no_grad():  # move away from the init so the comparison is meaningful
        for p in clf.parameters():
            p.add_(0.02 * torch.randn_like(p))
    classes = [f"shape{i}" for i in range(cfg["num_classes"])]
    wpath, jpath = save_tiny_vit(clf, tmp_path / "tiny.safetensors", classes=classes, dtype=torch.float32)
    doc = json.loads(jpath.read_text())
    assert doc["config"]["embed_dim"] == 48 and doc["classes"] == classes

    ref = TinyViTTeacher(clf)
    t = build_teacher("tiny-vit", weights=str(wpath))
    assert t.classes == classes and t.feature_dim == 16 and t.grid == (14, 14)
    for a, b in zip(t(images), ref(images)):
        torch.testing.assert_close(a, b, atol=0, rtol=0)
    # the classifier itself round-trips, logits included
    loaded, _ = load_tiny_vit(wpath)
    torch.testing.assert_close(loaded(images), clf.eval()(images))

    # fp16 storage (the default, to keep the bundled asset small) stays close; the JSON sidecar is
    # optional because the config also lives in the safetensors metadata
    wpath16, jpath16 = save_tiny_vit(clf, tmp_path / "tiny16.safetensors")
    assert wpath16.stat().st_size < 0.6 * wpath.stat().st_size
    jpath16.unlink()
    f16, a16 = build_teacher("tiny-vit", weights=str(wpath16))(images)
    f32, a32 = ref(images)
    assert (f16 - f32).abs().max() < 1e-2 * f32.abs().max()
    assert (a16 - a32).abs().max() < 1e-2 * a32.max()


def test_tiny_vit_errors(monkeypatch, tmp_path, tiny_arch):
    import i2pmae.teachers.tiny as tiny

    monkeypatch.setattr(tiny, "bundled_tiny_vit_path", lambda: tmp_path / "teacher-tiny-vit.safetensors")
    with pytest.raises(TeacherWeightsError, match=r"'tiny-vit'.*teacher-tiny-vit\.safetensors.*--teacher-weights"):
        build_teacher("tiny-vit")
    clf = build_tiny_vit_classifier(**tiny_arch["tiny-vit"])
    with pytest.raises(ValueError, match="class names"):
        save_tiny_vit(clf, tmp_path / "x.safetensors", classes=["a"])
    with pytest.raises(ValueError, match="unknown tiny-vit config keys"):
        build_tiny_vit_classifier(num_classes=3, depthh=2)
    plain = tmp_path / "plain.safetensors"
    save_file({"a": torch.zeros(1)}, str(plain))
    with pytest.raises(FileNotFoundError, match="tiny-vit config not found"):
        build_teacher("tiny-vit", weights=str(plain))
