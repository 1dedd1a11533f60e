"""Zero-shot CLIP classification of projected depth maps (supplementary section 5).

```python
from i2pmae.zeroshot import load_clip, classify
clip = load_clip()                                   # or load_clip("~/.cache/clip/ViT-B-16.pt")
out = classify(points, ["chair", "table"], clip)     # points (B, N, 3)
out.predictions, out.view_predictions, out.similarity
```
"""

from i2pmae.zeroshot.classify import (
    DEFAULT_PROMPTS,
    NORMALIZATIONS,
    ZeroShotOutput,
    classify,
    depth_images,
    encode_images,
    encode_prompts,
    prompt_texts,
)
from i2pmae.zeroshot.classnames import dataset_class_names, read_class_file
from i2pmae.zeroshot.clip import clip_from_state_dict, load_clip
from i2pmae.zeroshot.evaluate import accuracy_report, evaluate_dataset, plot_confusion

__all__ = [
    "DEFAULT_PROMPTS", "NORMALIZATIONS", "ZeroShotOutput", "classify", "depth_images", "encode_images",
    "encode_prompts", "prompt_texts", "dataset_class_names", "read_class_file", "clip_from_state_dict",
    "load_clip", "accuracy_report", "evaluate_dataset", "plot_confusion",
]
