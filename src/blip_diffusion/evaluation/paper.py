"""Published DreamBench numbers, as tabulated in the project's reference notes ("Headline numbers").

BLIP-Diffusion's rows are from its paper (arXiv 2305.14720). Full protocol: 30 subjects x 25 prompts
x 4 images, DINO ViT-S/16, CLIP ViT-B/32 in most papers. A run is comparable to these only under the
same protocol and metric models.
"""

from __future__ import annotations

# method -> {metric: score}; None where the paper has no number (real images have no prompt).
PAPER_SCORES: dict[str, dict[str, float | None]] = {
    "real images (upper bound)": {"dino": 0.774, "clip_i": 0.885, "clip_t": None},
    "BLIP-Diffusion zero-shot": {"dino": 0.594, "clip_i": 0.779, "clip_t": 0.300},
    "BLIP-Diffusion fine-tuned": {"dino": 0.670, "clip_i": 0.805, "clip_t": 0.302},
    "DreamBooth (SD)": {"dino": 0.668, "clip_i": 0.803, "clip_t": 0.305},
    "Textual Inversion": {"dino": 0.569, "clip_i": 0.780, "clip_t": 0.255},
    "IP-Adapter (SD1.5)": {"dino": 0.667, "clip_i": 0.813, "clip_t": 0.289},
    "Kosmos-G": {"dino": 0.694, "clip_i": 0.847, "clip_t": 0.287},
}
