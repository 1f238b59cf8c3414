"""Python models that take several inputs, for tests/count/test_model_inputs.py: an image with
token ids and a keyword mask (CLIP in miniature), a branchy block, and a token classifier."""
from __future__ import annotations

import torch
from torch import nn

SEEN: list[tuple] = []  # (image dtype, text dtype, mask dtype, mask all set, batch) of every call


class ImageText(nn.Module):
    """An image and token ids, positional, and an optional keyword mask; `heads` (a plain number)
    runs the head that many times."""

    def __init__(self, width: int = 8):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.embed = nn.Embedding(100, width)
        self.head = nn.Linear(2 * width, 4)

    def forward(self, image, text, mask=None, *, heads: int = 1):
        if text.dtype != torch.int64:
            raise TypeError(f"text must be token ids, got {text.dtype}")
        if mask is not None and mask.dtype != torch.bool:
            raise TypeError(f"mask must be bool, got {mask.dtype}")
        if image.device.type != "meta":
            SEEN.append((image.dtype, text.dtype, None if mask is None else mask.dtype,
                         None if mask is None else bool(mask.all()), image.shape[0]))
        tokens = self.embed(text)
        if mask is not None:
            tokens = tokens * mask.unsqueeze(-1)
        features = torch.cat([self.conv(image).mean((2, 3)), tokens.mean(1)], 1)
        return sum(self.head(features) for _ in range(heads))


class TwoBranches(nn.Module):
    """Two convolution branches of one input, added: their backward passes interleave."""

    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(3, 4, 3, padding=1)
        self.right = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Conv2d(4, 4, 3, padding=1))

    def forward(self, x):
        return self.left(x) + self.right(x)


def image_text():
    return ImageText()


def image_text_wide():
    return ImageText(width=16)


def two_branches():
    return TwoBranches()


def token_classifier():
    return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 2))
