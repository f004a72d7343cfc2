"""TrDiMP's transformer memory, kept encoded as images come and go.

The tracker's memory holds the classification features of up to ``capacity`` images with
their Gaussian target labels; a new image goes to the front and, once the memory is full, the
oldest (last) one leaves. The reference encodes the whole memory again at every change: a
self-attention over all its pixels, the periodic spike of a TrDiMP run. Here the encoder's
softmax sums are kept per image (``transformer.py``): a change adds the new image's blocks and
takes the dropped image's blocks out, and the encoding is the reference's function of the new
memory. The dropped image's blocks are known as soon as the memory is full, so the tracker
has them computed on a frame between memory changes (``prepare_drop``), not on the change's.
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
        # The memory is built as its images pushed oldest first: every block is then computed
        # the way a push computes it, which is the way a drop takes it out again.
        self.features = features[-1:]
        self.labels = labels[-1:]
        self._keys = net.memory_keys(self.features)
        self._total, self._weighted = net.memory_sums(self._keys, self._keys, self.features)
        self._drop: list[Tensor] | None = None
        for index in range(len(features) - 2, -1, -1):
            self._add(features[index : index + 1], labels[index : index + 1])
        self._encode()

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def prepare_drop(self, capacity: int) -> None:
        """Compute the blocks the next ``push`` takes out with the oldest image, if the memory
        is full: they do not change until then."""
        if len(self) >= capacity and self._drop is None:
            self._drop = self._net.memory_sums(self._keys[:-1], self._keys[-1:], self.features[-1:])

    def push(self, feature: Tensor, label: Tensor, capacity: int) -> None:
        """Put one image (1, C, H, W) with its label (1, H, W) in front; drop the last image
        first if the memory holds ``capacity`` images."""
        if len(self) >= capacity:
            self.prepare_drop(capacity)
            total, weighted = self._drop
            self.features, self.labels = self.features[:-1], self.labels[:-1]
            self._keys = self._keys[:-1]
            # In place: the sums are the memory's own, and a copy of them costs a push 10 ms.
            self._total = self._total[:-1].sub_(total)
            self._weighted = self._weighted[:-1].sub_(weighted)
        self._add(feature, label)
        self._encode()

    def _add(self, feature: Tensor, label: Tensor) -> None:
        self._drop = None
        key = self._net.memory_keys(feature)
        own_total, own_weighted, added_total, added_weighted = self._net.memory_push_sums(
            key, feature, self._keys, self.features
        )
        self.features = torch.cat((feature, self.features))
        self.labels = torch.cat((label, self.labels))
        self._keys = torch.cat((key, self._keys))
        self._total = torch.cat((own_total, self._total.add_(added_total)))
        self._weighted = torch.cat((own_weighted, self._weighted.add_(added_weighted)))

    def _encode(self) -> None:
        self.encoded = self._net.encoded_memory(self.features, [self._total, self._weighted])
        self.decoder = self._net.decoder_memory(self.encoded, self.labels)
