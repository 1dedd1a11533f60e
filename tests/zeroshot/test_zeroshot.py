"""Zero-shot CLIP on depth maps: both towers against float64 references, the pipeline, weights, names."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from open_clip import tokenize

from i2pmae.teachers import TeacherWeightsError
from i2pmae.zeroshot import (
    accuracy_report,
    classify,
    clip_from_state_dict,
    dataset_class_names,
    depth_images,
    encode_images,
    encode_prompts,
    load_clip,
    prompt_texts,
    read_class_file,
)


def _clouds(b: int = 3, n: int = 300, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, 3, generator=g)
    x[1, :, 2] *= 0.1  # a flat one
    x[2] = x[2] / x[2].norm(dim=-1, keepdim=True)  # a sphere
    return x


def test_image_tower_is_clip_image_embedding(clip_sd, zs_tools):
    """CLS token after ln_post and the visual projection, equal to a float64 reference written from scratch."""
    m = clip_from_state_dict(clip_sd)
    images = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    ref = zs_tools.image_reference(clip_sd, images)
    with torch.no_grad():
        got64 = m.double().encode_image(images.double())
    torch.testing.assert_close(got64, ref, atol=1e-10, rtol=1e-10)
    m.float()
    got = encode_images(m, images)  # float32, unit norm
    torch.testing.assert_close(got, F.normalize(ref, dim=-1).float(), atol=2e-5, rtol=1e-4)
    assert got.shape == (2, zs_tools.tiny["embed"])


def test_text_tower_is_clip_text_embedding(clip_sd, zs_tools):
    m = clip_from_state_dict(clip_sd)
    tokens = tokenize(["a depth map of a chair.", "a depth map of a night stand."], context_length=77)
    ref = zs_tools.text_reference(clip_sd, tokens)
    with torch.no_grad():
        got64 = m.double().encode_text(tokens)
    torch.testing.assert_close(got64, ref, atol=1e-10, rtol=1e-10)
    m.float()
    # a prompt ensemble: mean of the unit-norm prompt embeddings, re-normed
    prompts = ["a depth map of a {}.", "a photo of a {}."]
    got = encode_prompts(m, ["chair", "night_stand"], prompts)
    texts = prompt_texts(["chair", "night_stand"], prompts)
    assert texts[1] == ["a depth map of a night stand.", "a photo of a night stand."]
    ref_e = F.normalize(text_reference_flat(zs_tools, clip_sd, texts).mean(dim=1), dim=-1)
    torch.testing.assert_close(got, ref_e.float(), atol=2e-5, rtol=1e-4)


def text_reference_flat(zs_tools, sd, texts):
    flat = [t for g in texts for t in g]
    emb = F.normalize(zs_tools.text_reference(sd, tokenize(flat, context_length=77)), dim=-1)
    return emb.reshape(len(texts), len(texts[0]), -1)


def test_classify_end_to_end_matches_reference(clip_sd, zs_tools):
    """Projected depth maps -> image embeddings -> cosine to the class embeddings, per view and averaged."""
    m = clip_from_state_dict(clip_sd)
    pts = _clouds()
    names = ["chair", "table", "lamp", "airplane"]
    out = classify(pts, names, m, views=(0, 2), batch_size=2)
    assert out.similarity.shape == (3, 2, 4) and out.views == (0, 2)
    images = depth_images(pts, (0, 2), 224, "clip")
    img = F.normalize(zs_tools.image_reference(clip_sd, images.reshape(6, 3, 224, 224)), dim=-1)
    txt = F.normalize(text_reference_flat(zs_tools, clip_sd, prompt_texts(names)).mean(dim=1), dim=-1)
    ref = (img @ txt.T).reshape(3, 2, 4)
    torch.testing.assert_close(out.similarity, ref.float(), atol=5e-5, rtol=1e-4)
    assert torch.equal(out.view_predictions, out.similarity.argmax(-1))
    assert torch.equal(out.predictions, ref.mean(1).argmax(-1))
    # the CLIP normalisation is CLIP's, not ImageNet's: the two differ
    assert not torch.allclose(images, depth_images(pts, (0, 2), 224, "imagenet"))
    with pytest.raises(ValueError, match="normalize"):
        depth_images(pts, (0,), 224, "nope")
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        classify(pts[0], names, m)


def test_prompt_checks():
    with pytest.raises(ValueError, match="'{}'"):
        prompt_texts(["a"], ["no placeholder"])
    with pytest.raises(ValueError, match="at least one prompt"):
        prompt_texts(["a"], [])


def test_weights_sources(clip_sd, zs_tools, offline_env, monkeypatch):
    # offline, nothing cached, no file: a clear error naming what was looked for and --teacher-weights
    with pytest.raises(TeacherWeightsError, match=r"ViT-B-16\.pt.*open_clip_model\.safetensors.*--teacher-weights"):
        load_clip()
    with pytest.raises(FileNotFoundError, match="CLIP weights file not found"):
        load_clip(offline_env / "missing.pt")
    # OpenAI's TorchScript archive (float16, like the released one) in the CLIP cache is found by default
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in clip_sd.items()}
    (offline_env / "clip").mkdir()
    zs_tools.save_torchscript(half, offline_env / "clip" / "ViT-B-16.pt")
    m = load_clip()
    assert next(m.parameters()).dtype == torch.float32
    torch.testing.assert_close(m.visual.proj, half["visual.proj"].float())
    # a visual-only file (what the teachers need) is refused: zero-shot needs the text tower
    from safetensors.torch import save_file

    visual = {k: v.contiguous() for k, v in clip_sd.items() if k.startswith("visual.")}
    save_file(visual, str(offline_env / "visual.safetensors"))
    with pytest.raises(ValueError, match="text tower"):
        load_clip(offline_env / "visual.safetensors")


def test_hub_cache_open_clip_file(clip_sd, offline_env):
    """The open_clip file of timm/vit_base_patch16_clip_224.openai in the Hugging Face cache is used offline."""
    from safetensors.torch import save_file

    repo = offline_env / "hf" / "hub" / "models--timm--vit_base_patch16_clip_224.openai"
    commit = "0" * 40
    snap = repo / "snapshots" / commit
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    save_file({k: v.contiguous() for k, v in clip_sd.items()}, str(snap / "open_clip_model.safetensors"))
    m = load_clip()
    torch.testing.assert_close(m.text_projection, clip_sd["text_projection"])


def test_open_clip_checkpoint_layout(clip_sd, tmp_path):
    """open_clip training checkpoints: weights under 'state_dict' with DDP 'module.' prefixes."""
    sd = {"module." + k: v for k, v in clip_sd.items() if v.is_floating_point()}
    torch.save({"epoch": 3, "name": "run", "state_dict": sd}, tmp_path / "epoch_3.pt")
    m = load_clip(tmp_path / "epoch_3.pt")
    torch.testing.assert_close(m.visual.conv1.weight, clip_sd["visual.conv1.weight"])


def test_accuracy_report_against_loops():
    g = torch.Generator().manual_seed(0)
    sim = torch.rand(40, 3, 4, generator=g)
    labels = torch.randint(0, 4, (40,), generator=g)
    names = ["a", "b", "c", "d"]
    rep = accuracy_report(sim, labels, names, (0, 1, 2))
    pred = sim.mean(1).argmax(-1).numpy()
    lab = labels.numpy()
    conf = np.zeros((4, 4), int)
    for t, p in zip(lab, pred):
        conf[t, p] += 1
    assert np.array_equal(np.array(rep["confusion"]), conf)
    assert rep["accuracy"] == pytest.approx(100 * np.mean(pred == lab))
    for k, n in enumerate(names):
        assert rep["class_accuracy"][n] == pytest.approx(100 * np.mean(pred[lab == k] == k))
    for i in range(3):
        assert rep["view_accuracy"][i] == pytest.approx(100 * np.mean(sim[:, i].argmax(-1).numpy() == lab))


class _DS:
    def __init__(self, classes, folder=None):
        self.classes, self.folder = classes, folder


def test_class_names(tmp_path):
    assert dataset_class_names(_DS(["flower_pot", "chair"])) == ["flower_pot", "chair"]
    # ShapeNet synsets: named by synsets.txt next to the data, else a clear error
    syn = _DS(["02691156", "02747177"], tmp_path)
    with pytest.raises(ValueError, match="synset ids.*--classes"):
        dataset_class_names(syn)
    (tmp_path / "synsets.txt").write_text("02747177 ashcan,trash can\n02691156\tairplane,aeroplane\n")
    assert dataset_class_names(syn) == ["airplane", "ashcan"]
    f = tmp_path / "names.txt"
    f.write_text("plane\nbin\n")
    assert read_class_file(f, ["02691156", "02747177"]) == ["plane", "bin"]
    f.write_text("one\n")
    with pytest.raises(ValueError, match="1 class names, but the data has 2"):
        read_class_file(f, ["x", "y"])
    with pytest.raises(ValueError, match="only by index"):
        dataset_class_names(_DS(["class_0", "class_1"]))
