"""train.compile (issue 19): torch.compile on the heavy parts gives the uncompiled losses, and checkpoints keep
the plain parameter names (no ``_orig_mod.``), so they load into an uncompiled model.

The pre-training test compiles with the ``aot_eager`` backend (dynamo's graph capture of every compiled part and
AOT autograd's joint forward/backward graph, without code generation: seconds instead of the minutes inductor's
C++ compilation takes for a whole model on 2 cores); inductor itself is checked on one token embedding and one
transformer stage."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from helpers_loop import tiny_pretrain_config, write_shapenet55
from i2pmae.engine import compile as compile_mod
from i2pmae.engine.compile import compile_model, compiled_parts, is_compiled
from i2pmae.engine.distributed import init_distributed
from i2pmae.engine.schema import config_problems
from i2pmae.engine.seeding import seed_everything
from i2pmae.models import build_model
from i2pmae.models.layers import TokenEmbed, TransformerStage
from i2pmae.tasks.pretrain import run_pretrain

STEPS = 2
LR = 1e-3


def _pretrain(tmp_path, name, **train):
    cfg = tiny_pretrain_config(tmp_path / "data", max_steps=STEPS, lr=LR, **train)
    cfg["model"].update(drop_path_rate=0.0)  # compiled drop-path may draw its random numbers differently
    seed_everything(0)
    run_pretrain(copy.deepcopy(cfg), tmp_path / name, init_distributed("cpu"))
    lines = [json.loads(x) for x in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
    losses = [x["loss"] for x in lines if "loss" in x]
    return losses, torch.load(tmp_path / name / "last.pth", weights_only=True)["model"]


def test_compile_is_a_known_boolean_key():
    assert config_problems({"train": {"compile": True}}) == []
    assert config_problems({"train": {"compile": "yes"}})


def test_compiled_pretraining_gives_the_same_losses_and_plain_checkpoint_names(tmp_path, monkeypatch):
    monkeypatch.setattr(compile_mod, "BACKEND", "aot_eager")
    torch._dynamo.reset()
    write_shapenet55(tmp_path / "data", n=8, points=256)
    eager_losses, eager = _pretrain(tmp_path, "eager")
    losses, saved = _pretrain(tmp_path, "compiled", compile=True)
    assert len(losses) == len(eager_losses) == STEPS
    # float32 both ways. Step 1: the same arithmetic up to the order of a few sums. Step 2 follows one AdamW
    # update, which is lr * sign(g) on the first step: the gradients of biases feeding a BatchNorm are pure
    # rounding noise (zero in exact arithmetic), so their sign, hence a 2 * lr move, may differ.
    assert abs(losses[0] - eager_losses[0]) <= 1e-5 * abs(eager_losses[0]), (losses, eager_losses)
    assert abs(losses[1] - eager_losses[1]) <= 1e-3 * abs(eager_losses[1]), (losses, eager_losses)
    assert saved.keys() == eager.keys()
    assert not any("_orig_mod" in k for k in saved)
    for k in saved:  # the weights after STEPS AdamW steps: within the sign-flip bound
        torch.testing.assert_close(saved[k], eager[k], rtol=0, atol=2 * STEPS * LR)
    cfg = tiny_pretrain_config(tmp_path / "data")
    build_model(cfg["model"], teacher=None).load_state_dict(saved, strict=True)  # loads as it is


def test_compile_model_is_in_place():
    model = build_model(tiny_pretrain_config("unused")["model"], teacher=None)
    names = [n for n, _ in model.named_parameters()]
    params = list(model.parameters())
    assert compile_model(model, backend="eager") is model
    parts = compiled_parts(model)
    assert {type(m).__name__ for _, m in parts} == {"TokenEmbed", "TransformerStage", "TokenPropagation"}
    assert all(is_compiled(m) for _, m in parts)
    assert [n for n, _ in model.named_parameters()] == names
    assert all(a is b for a, b in zip(model.parameters(), params))
    assert list(model.state_dict()) == list(build_model(tiny_pretrain_config("unused")["model"]).state_dict())


def test_token_propagation_compiles_as_one_graph():
    """No graph break inside a compiled part (a break costs a host sync and a graph per call): the input
    checks of the geometry ops step aside under torch.compile, and still refuse bad input eagerly."""
    from i2pmae.models.layers import TokenPropagation

    torch._dynamo.reset()
    torch.manual_seed(0)
    module = TokenPropagation(8, 16, 16)
    inputs = (torch.randn(2, 12, 3), torch.randn(2, 4, 3), torch.randn(2, 12, 8), torch.randn(2, 4, 16))
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)  # raises on a graph break
    torch.testing.assert_close(compiled(*inputs), module(*inputs))
    bad = (inputs[0].clone().index_fill_(1, torch.tensor([3]), float("nan")), *inputs[1:])
    with pytest.raises(ValueError, match="NaN/Inf"):
        module(*bad)


@pytest.mark.parametrize("part", ["token_embed", "stage"])
def test_inductor_part_equals_eager(part):
    torch._dynamo.reset()
    torch.manual_seed(0)
    if part == "token_embed":
        module = TokenEmbed(3, 16, first_scale=True, embed_widths=(8, 16, 32))
        inputs = (torch.randn(2, 8, 4, 3),)
    else:
        module = TransformerStage(16, 1, 2, [0.0])
        inputs = (torch.randn(2, 5, 16), torch.randn(2, 5, 16))
    twin = copy.deepcopy(module)
    compile_model(twin)  # BACKEND: inductor
    outs = []
    for m in (module, twin):
        xs = [x.clone().requires_grad_() for x in inputs]
        y = m(*xs)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        outs.append((y.detach(), [x.grad for x in xs], [p.grad for p in m.parameters()], list(m.buffers())))
    (y0, gx0, gp0, b0), (y1, gx1, gp1, b1) = outs
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-6)
    for a, b in zip(gx1 + b1, gx0 + b0):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    for a, b in zip(gp1, gp0):  # biases feeding a BatchNorm: zero gradient up to rounding (~1e-6 here)
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
