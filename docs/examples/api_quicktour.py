"""i2pmae's Python API in one page: a named network, the Hugging Face folder layout, features of your clouds.

Run: python docs/examples/api_quicktour.py [FOLDER]   (tests/api/test_api_quicktour.py runs it)
"""
import sys
import tempfile

import numpy as np
import torch

import i2pmae

print(i2pmae.list_models())  # the paper's pre-training network, ModelNet40/ScanObjectNN, part segmentation, quickstart

# A named network; pretrained= takes our run's .pth, the authors' or Point-M2AE's pre-train.pth, a folder or ORG/NAME
model = i2pmae.create_model("i2pmae-quickstart", encoder_depths=[1, 1, 1])  # keyword overrides of its config
folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp()
i2pmae.save_pretrained(model, folder)  # config.json + model.safetensors + README.md (`i2pmae export RUN` too)
same = i2pmae.from_pretrained(folder)  # a folder, or a Hugging Face repo id (the cache first)
assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), same.state_dict().values()))

# Features of your own clouds: (N, 3) or (B, N, 3), numpy or torch, any N (resampled as `i2pmae embed` does)
encoder = i2pmae.load_encoder(folder)  # eval mode; the linear-SVM probe's pooling and BatchNorm statistics
clouds = np.random.default_rng(0).normal(size=(4, 1500, 3)).astype(np.float32)
features = encoder.embed(clouds)
print(tuple(features.shape))  # (4, D): one row per cloud
