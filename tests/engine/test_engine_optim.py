"""AdamW parameter groups with the authors' no-decay rule."""

import pytest
import torch
from torch import nn

from i2pmae.engine.optim import build_optimizer


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.token_embed = nn.Conv1d(3, 8, 1)  # 'token' in the name: no decay, even the 3-D weight
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2, bias=False)
        self.frozen = nn.Linear(8, 8)
        self.frozen.requires_grad_(False)
        self.scale = nn.Parameter(torch.ones(8))  # 1-D without 'bias' in its name


def test_no_decay_groups_follow_the_authors_rule():
    model = Net()
    opt = build_optimizer(model, {"train": {"lr": 5e-4, "weight_decay": 0.05}})
    # Reference: the rule written out independently from docs/data.md §4-5.
    want_nd, want_d = set(), set()
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (want_nd if (p.ndim == 1 or name.endswith(".bias") or "token" in name) else want_d).add(name)
    by_id = {id(p): n for n, p in model.named_parameters()}
    groups = {g["name"]: g for g in opt.param_groups}
    assert {by_id[id(p)] for p in groups["no_decay"]["params"]} == want_nd
    assert {by_id[id(p)] for p in groups["decay"]["params"]} == want_d == {"fc.weight", "head.weight"}
    assert "token_embed.weight" in want_nd and "cls_token" in want_nd
    assert groups["no_decay"]["weight_decay"] == 0.0 and groups["decay"]["weight_decay"] == 0.05
    assert all(g["lr"] == 5e-4 for g in opt.param_groups)
    assert isinstance(opt, torch.optim.AdamW)
    listed = [by_id[id(p)] for g in opt.param_groups for p in g["params"]]
    assert not any(n.startswith("frozen") for n in listed)
    assert len(listed) == len(set(listed))


def test_decay_is_actually_applied_only_to_the_decay_group():
    model = Net()
    opt = build_optimizer(model, {"lr": 0.1, "weight_decay": 0.5, "betas": [0.9, 0.95], "eps": 1e-6})
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p) if p.requires_grad else None
    opt.step()  # zero gradients: only decoupled weight decay moves a weight
    for n, p in model.named_parameters():
        moved = not torch.equal(p, before[n])
        assert moved == (n in ("fc.weight", "head.weight")), n
    assert opt.param_groups[0]["betas"] == (0.9, 0.95)


def test_errors():
    with pytest.raises(ValueError, match="train.lr"):
        build_optimizer(Net(), {"weight_decay": 0.05})
    with pytest.raises(ValueError, match="adamw"):
        build_optimizer(Net(), {"lr": 1e-3, "optimizer": "rmsprop"})
    sgd = build_optimizer(Net(), {"lr": 1e-3, "optimizer": "sgd", "momentum": 0.8})
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.8
    frozen = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        build_optimizer(frozen, {"lr": 1e-3})


def _train_steps(opt_factory, steps: int = 5) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    model = Net()
    opt = opt_factory(model)
    x = torch.randn(6, 8)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        h = model.fc(model.norm(x + model.cls_token[0, 0] * model.scale)) + model.token_embed(x[:, :3, None]).squeeze(-1)
        loss = model.head(torch.tanh(h)).pow(2).mean()
        loss.backward()
        opt.step()
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def test_adamw_uses_multi_tensor_kernels_with_single_tensor_results():
    """The optimiser step is PyTorch's multi-tensor AdamW (fused on CUDA), and over a few steps on a model
    with both weight-decay groups it lands where the single-tensor loop lands, to float32 rounding."""
    cfg = {"lr": 1e-2, "weight_decay": 0.05}
    opt = build_optimizer(Net(), cfg)
    assert opt.defaults["foreach"] is True and not opt.defaults.get("fused")
    fast = _train_steps(lambda m: build_optimizer(m, cfg))
    groups = lambda m: [dict(g) for g in build_optimizer(m, cfg).param_groups]  # noqa: E731
    slow = _train_steps(lambda m: torch.optim.AdamW(groups(m), lr=1e-2, weight_decay=0.05, foreach=False))
    for name in fast:
        torch.testing.assert_close(fast[name], slow[name], rtol=1e-6, atol=1e-7), name
    moved = _train_steps(lambda m: build_optimizer(m, cfg), steps=0)
    assert any(not torch.equal(fast[n], moved[n]) for n in fast)
    if torch.cuda.is_available():
        cuda_opt = build_optimizer(Net().cuda(), cfg)
        assert cuda_opt.defaults["fused"] is True
