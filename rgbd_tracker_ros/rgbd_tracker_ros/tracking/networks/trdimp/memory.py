"""TrDiMP's transformer memory, kept encoded as images come and go.

The tracker's memory holds the classification features of up to ``capacity`` images with
their Gaussian target labels; a new image goes to the front and, once the memory is full, the
oldest (last) one leaves. The reference encodes the whole memory again at every change: a
self-attention over all its pixels, the periodic spike of a TrDiMP run. Here the encoder's
softmax sums are kept per image (``transformer.py``): a change adds the new image's blocks and
takes the dropped image's blocks out, about a seventh of the work for a full memory of 20, and
the encoding is the reference's function of the new memory.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class TransformerMemory:
    """Features (N, C, H, W), labels (N, H, W), their encoding (``encoded``) and what decoding
    needs of it (``decoder``)."""

    def __init__(self, net: Any, features: Tensor, labels: Tensor) -> None:
        self._net = net
        self.features = features
        self.labels = labels
        self._keys = net.memory_keys(features)
        sums = [
            net.memory_sums(self._keys[i : i + 1], self._keys, features)
            for i in range(len(features))
        ]
        self._total = torch.cat([total for total, _ in sums])
        self._weighted = torch.cat([weighted for _, weighted in sums])
        self._encode()

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def push(self, feature: Tensor, label: Tensor, capacity: int) -> None:
        """Put one image (1, C, H, W) with its label (1, H, W) in front; drop the last image
        first if the memory holds ``capacity`` images."""
        net = self._net
        features, labels, keys = self.features, self.labels, self._keys
        total, weighted = self._total, self._weighted
        if len(self) >= capacity:
            dropped = net.memory_sums(keys[:-1], keys[-1:], features[-1:])
            features, labels, keys = features[:-1], labels[:-1], keys[:-1]
            total, weighted = total[:-1] - dropped[0], weighted[:-1] - dropped[1]
        key = net.memory_keys(feature)
        added = net.memory_sums(keys, key, feature)
        self.features = torch.cat((feature, features))
        self.labels = torch.cat((label, labels))
        self._keys = torch.cat((key, keys))
        own_total, own_weighted = net.memory_sums(key, self._keys, self.features)
        self._total = torch.cat((own_total, total + added[0]))
        self._weighted = torch.cat((own_weighted, weighted + added[1]))
        self._encode()

    def _encode(self) -> None:
        self.encoded = self._net.encoded_memory(self.features, [self._total, self._weighted])
        self.decoder = self._net.decoder_memory(self.encoded, self.labels)
