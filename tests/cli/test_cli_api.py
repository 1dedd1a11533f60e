"""The public Python API (i2pmae.create_model / load_encoder / save_pretrained / from_pretrained) and
`i2pmae export`: named models round-trip the Hugging Face layout, encoders give what `i2pmae embed` gives
for our, the authors' and Point-M2AE's checkpoints, and repo ids resolve from a pre-filled offline cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import i2pmae
from helpers_cli import run_cli


def _files(cli_data, n=3):
    return sorted((cli_data.shapenet55 / "ShapeNet55-34" / "shapenet_pc").glob("*.npy"))[:n]


def test_every_named_model_builds_and_round_trips(tmp_path):
    names = i2pmae.list_models()
    assert {"i2pmae-pretrain", "i2pmae-modelnet40", "i2pmae-scan-pb", "i2pmae-partseg", "i2pmae-quickstart"} <= set(names)
    saved = {}
    for name in names:
        model = saved[name] = i2pmae.create_model(name)
        back = i2pmae.from_pretrained(i2pmae.save_pretrained(model, tmp_path / name))
        assert type(back) is type(model)
        a, b = model.state_dict(), back.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    # same outputs, not only the same tensors: the ModelNet40 classifier on two clouds
    model = saved["i2pmae-modelnet40"].eval()
    back = i2pmae.from_pretrained(tmp_path / "i2pmae-modelnet40")
    pts = torch.randn(2, 1024, 3, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(pts), back(pts))
    card = (tmp_path / "i2pmae-modelnet40" / "README.md").read_text()
    assert "I2PMAEClassifier" in card and "from_pretrained" in card


def test_paper_parameter_counts_and_clear_errors():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(i2pmae.create_model("i2pmae-modelnet40")) == 12_830_056  # the authors' released networks
    assert count(i2pmae.create_model("i2pmae-scan-pb")) == 12_921_935
    with pytest.raises(ValueError, match="i2pmae-quickstart"):
        i2pmae.create_model("resnet50")
    with pytest.raises(ValueError, match="unknown config keys.*widht"):
        i2pmae.create_model("i2pmae-quickstart", widht=3)
    assert i2pmae.create_model("i2pmae-quickstart", encoder_depths=[1, 1, 1]).i2pmae_config["encoder_depths"] == [1, 1, 1]


def test_load_encoder_equals_embed_for_ours_the_authors_and_point_m2ae(cli_data, pretrained_run, tmp_path):
    from models.test_models_point_m2ae import m2ae_pretrain_checkpoint  # tests/ is on the path

    files = _files(cli_data)
    raw = np.stack([np.load(f) for f in files])
    state = torch.load(pretrained_run / "last.pth", weights_only=True)["model"]
    authors = tmp_path / "authors.pth"
    torch.save({"base_model": {f"module.{k}": v for k, v in state.items()}}, authors)
    cfg = pretrained_run / "config.yaml"
    for ckpt, config in ((pretrained_run / "last.pth", None), (authors, cfg)):
        out = tmp_path / f"{ckpt.stem}.npy"
        args = ("-c", cfg) if config else ()
        assert run_cli("embed", *files, "--checkpoint", ckpt, *args, "--out", out, "--device", "cpu") == 0
        enc = i2pmae.load_encoder(ckpt, config=config)
        assert not enc.training
        np.testing.assert_allclose(enc.embed(raw).numpy(), np.load(out), rtol=0, atol=1e-5)
        np.testing.assert_allclose(enc.embed(torch.from_numpy(raw[0])).numpy(), np.load(out)[:1], rtol=0, atol=1e-5)
    # Point-M2AE's pre-train.pth: their mean + max pooling, through the same path
    m2ae_pretrain_checkpoint(tmp_path / "pre-train.pth", seed=1)
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("model: {name: I2PMAE, num_groups: [32, 16, 8], group_sizes: [8, 4, 4], encoder_dims: [16, 32, 64], "
                    "encoder_depths: [1, 1, 1], num_heads: 2, embed_widths: [8, 16, 32], decoder_dims: [64, 32], "
                    "decoder_depths: [1, 1], masking: random}\ndata: {npoints: 128}\n")
    out = tmp_path / "m2ae.npy"
    assert run_cli("embed", *files, "--checkpoint", tmp_path / "pre-train.pth", "-c", tiny, "--out", out,
                   "--device", "cpu") == 0
    enc = i2pmae.load_encoder(tmp_path / "pre-train.pth", config=tiny)
    assert enc.network.feature_pooling == "add"
    np.testing.assert_allclose(enc.embed(raw).numpy(), np.load(out), rtol=0, atol=1e-5)
    small = raw[:, :100]  # fewer points than the encoder takes: repeated points, the same ones alone or in a batch
    torch.testing.assert_close(enc.embed(small)[1:2], enc.embed(small[1]))
    with pytest.raises(ValueError, match=r"\(N, 3\) or \(B, N, 3\)"):
        enc.embed(np.zeros(5))


def test_export_then_load_from_a_folder_and_an_offline_hub_cache(cli_data, pretrained_run, tmp_path, monkeypatch):
    import huggingface_hub.constants as hub

    folder = tmp_path / "export"
    assert run_cli("export", pretrained_run, "--out", folder) == 0
    meta = json.loads((folder / "config.json").read_text())
    assert meta["model"]["name"] == "I2PMAE" and meta["i2pmae_version"] == i2pmae.__version__
    assert "Training config" in (folder / "README.md").read_text()
    raw = np.stack([np.load(f) for f in _files(cli_data, 2)])
    want = i2pmae.load_encoder(pretrained_run / "last.pth").embed(raw)
    assert torch.equal(i2pmae.load_encoder(folder).embed(raw), want)

    # A repo id answered from a pre-filled cache with downloads off
    snap = tmp_path / "hub" / "models--someone--tiny-i2pmae" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    for f in ("config.json", "model.safetensors", "README.md"):
        (snap / f).write_bytes((folder / f).read_bytes())
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0123abc")
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    assert torch.equal(i2pmae.load_encoder("someone/tiny-i2pmae").embed(raw), want)
    assert type(i2pmae.from_pretrained("someone/tiny-i2pmae")).__name__ == "I2PMAE"
    with pytest.raises(FileNotFoundError, match="someone/absent.*HF_HUB_OFFLINE"):
        i2pmae.load_encoder("someone/absent")
    # bad inputs of the command: one line naming the problem
    assert run_cli("export", tmp_path / "nowhere", "--out", tmp_path / "x") == 1


def test_create_model_pretrained_from_ours_the_authors_and_point_m2ae(pretrained_run, tmp_path):
    """pretrained= a pre-training checkpoint: the same network gets every weight; a classifier or segmentation
    network gets the encoder (its head stays at initialisation), as `i2pmae finetune --pretrained` loads it."""
    from models.test_models_point_m2ae import ENC, m2ae_pretrain_checkpoint  # tests/ is on the path

    ours = pretrained_run / "last.pth"
    state = torch.load(ours, weights_only=True)["model"]
    authors = tmp_path / "authors.pth"
    torch.save({"base_model": {f"module.{k}": v for k, v in state.items()}}, authors)
    run_model = {k: v for k, v in torch.load(ours, weights_only=True)["config"]["model"].items() if k != "name"}
    sizes = {k: v for k, v in run_model.items()
             if k in ("num_groups", "group_sizes", "encoder_dims", "encoder_depths", "num_heads", "embed_widths")}
    for ckpt in (ours, authors):
        same = i2pmae.create_model("i2pmae-pretrain", pretrained=ckpt, **run_model).state_dict()
        assert all(torch.equal(same[k], v) for k, v in state.items()), ckpt
        for name in ("i2pmae-modelnet40", "i2pmae-partseg"):
            net = i2pmae.create_model(name, pretrained=ckpt, **sizes).state_dict()
            fresh = i2pmae.create_model(name, **sizes).state_dict()
            enc = [k for k in net if k.startswith("h_encoder.")]
            assert enc and all(torch.equal(net[k], state[k]) for k in enc), (name, ckpt)
            assert not all(torch.equal(fresh[k], state[k]) for k in enc)  # the weights came from the file
    sd = m2ae_pretrain_checkpoint(tmp_path / "pre-train.pth", seed=2)  # Point-M2AE's layout, no config stored
    net = i2pmae.create_model("i2pmae-scan-pb", pretrained=tmp_path / "pre-train.pth", **ENC).state_dict()
    assert all(torch.equal(net[k], sd[k]) for k in net if k.startswith("h_encoder."))
    # a checkpoint of another size is refused, naming the weights it lacks, not half-loaded
    with pytest.raises(ValueError, match="authors.pth: .* weights of this model are missing"):
        i2pmae.create_model("i2pmae-modelnet40", pretrained=authors)
