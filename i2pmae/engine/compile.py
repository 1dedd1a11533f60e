"""``train.compile``: ``torch.compile`` on the 3D network's heavy, shape-stable parts.

The whole network is not compiled: its tokenizer runs farthest-point sampling as a Python loop (one
iteration per centre, which dynamo would unroll into thousands of ops) and its masking has data-dependent
sizes (visible-token counts, ``bool(masked.any())``) that break graphs. The parts that do the arithmetic
are compiled one by one, each in place with ``nn.Module.compile()``: the token embeddings, the transformer
stages of encoder and decoder, and the decoder's token propagation. ``nn.Module.compile()`` keeps the module
object and its parameters where they were, so ``state_dict()`` names, checkpoints, the optimiser's
parameter list, DDP and ``.to()`` are those of the uncompiled model (no ``_orig_mod.`` prefix anywhere).

Inductor compiles forward and backward on first use (and once more when the number of visible tokens
changes, after which that size is dynamic); compile time is paid in the first steps of a run.
Works on CPU (C++ code generation, needs a C compiler) and CUDA (Triton) alike.
"""

from __future__ import annotations

import logging

from torch import nn

log = logging.getLogger("i2pmae")

# torch.compile's backend for ``train.compile: true``. Tests set "aot_eager" (graph capture and the joint
# forward/backward graph, no code generation) to check the plumbing in seconds rather than minutes.
BACKEND = "inductor"


def compiled_parts(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, module) of the parts ``compile_model`` compiles: token embeddings, transformer stages and
    token propagation, outermost only."""
    from i2pmae.models.layers import TokenEmbed, TokenPropagation, TransformerStage

    kinds = (TokenEmbed, TransformerStage, TokenPropagation)
    return [(name, m) for name, m in model.named_modules() if isinstance(m, kinds)]


def compile_model(model: nn.Module, **options) -> nn.Module:
    """Compile ``model``'s heavy parts in place (``torch.compile`` options as keywords; backend ``BACKEND``
    unless given); returns ``model``."""
    options.setdefault("backend", BACKEND)
    parts = compiled_parts(model)
    for _, module in parts:
        module.compile(**options)
    log.info("train.compile: torch.compile (%s) on %d parts (%s); the first steps compile them", options["backend"],
             len(parts), ", ".join(sorted({type(m).__name__ for _, m in parts})) or "none found")
    return model


def is_compiled(module: nn.Module) -> bool:
    return getattr(module, "_compiled_call_impl", None) is not None
