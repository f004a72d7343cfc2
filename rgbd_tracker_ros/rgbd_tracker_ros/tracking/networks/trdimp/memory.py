"""TrDiMP's transformer memory, kept encoded as images come and go.

The tracker's memory holds the classification features of up to ``capacity`` images with
their Gaussian target labels; a new image goes to the front and, once the memory is full, the
oldest (last) one leaves. The reference encodes the whole memory again at every change: a
self-attention over all its pixels, the periodic spike of a TrDiMP run. Here the encoder's
softmax sums are kept per image (``transformer.py``): a change adds the new image's blocks and
takes the dropped image's blocks out, and the encoding is the reference's function of the new
memory. The work of a change is spread over three frames, each result computed before
anything reads it: the change adds and drops the blocks; the encoding follows when it is
first read (the next frame's decoding); and the dropped image's blocks, known as soon as the
memory is full, are computed on a later frame between changes (``prepare_drop``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

# Free slots in front of the memory's stacks: they move to a new storage once in ROOM pushes
# (TrDiMP pushes every fifth frame: once in a hundred frames).
ROOM = 20


class FrontStack:
    """Tensors stacked along dim 0, newest first, in a storage with room in front: a new item
    is written in place and the oldest leaves by shrinking the view, where a concatenation
    copies the whole stack (TrDiMP's float64 sums of a full memory are 40 MB). When the room
    runs out the stack moves to a new storage with ``room`` free slots in front again."""

    def __init__(self, items: Tensor, room: int) -> None:
        self._room = max(int(room), 1)
        self._storage = items
        self._start, self._end = 0, int(items.shape[0])
        self._move()

    @property
    def items(self) -> Tensor:
        """The stack (N, ...): a contiguous view of the storage."""
        return self._storage[self._start : self._end]

    def push_front(self, item: Tensor) -> None:
        """Put ``item`` (1, ...) in front."""
        if self._start == 0:
            self._move()
        self._start -= 1
        self._storage[self._start] = item[0]

    def drop_last(self) -> None:
        self._end -= 1

    def _move(self) -> None:
        items = self.items
        storage = items.new_empty((self._room + items.shape[0], *items.shape[1:]))
        storage[self._room :] = items
        self._storage, self._start, self._end = storage, self._room, self._room + len(items)


class TransformerMemory:
    """Features (N, C, H, W), labels (N, H, W), their encoding (``encoded``) and what decoding
    needs of it (``decoder``)."""

    def __init__(self, net: Any, features: Tensor, labels: Tensor) -> None:
        self._net = net
        # The memory is built as its images pushed oldest first: every block is then computed
        # the way a push computes it, which is the way a drop takes it out again.
        first = features[-1:]
        keys = net.memory_keys(first)
        total, weighted = net.memory_sums(keys, keys, first)
        self._features = FrontStack(first, ROOM)
        self._labels = FrontStack(labels[-1:], ROOM)
        self._keys = FrontStack(keys, ROOM)
        # Z and S of each image over the whole memory (float64), updated in place.
        self._total = FrontStack(total, ROOM)
        self._weighted = FrontStack(weighted, ROOM)
        self._drop: list[Tensor] | None = None
        for index in range(len(features) - 2, -1, -1):
            self._add(features[index : index + 1], labels[index : index + 1])
        self._encoding: tuple[Tensor, list[Tensor]] | None = None

    @property
    def features(self) -> Tensor:
        return self._features.items

    @property
    def labels(self) -> Tensor:
        return self._labels.items

    def _stacks(self) -> tuple[FrontStack, ...]:
        """Every stack, in the order of the items ``_add`` pushes."""
        return (self._features, self._labels, self._keys, self._total, self._weighted)

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def prepare_drop(self, capacity: int) -> None:
        """Compute the blocks the next ``push`` takes out with the oldest image, if the memory
        is full: they do not change until then."""
        if len(self) >= capacity and self._drop is None:
            keys = self._keys.items
            self._drop = self._net.memory_sums(keys[:-1], keys[-1:], self.features[-1:])

    def push(self, feature: Tensor, label: Tensor, capacity: int) -> None:
        """Put one image (1, C, H, W) with its label (1, H, W) in front; drop the last image
        first if the memory holds ``capacity`` images."""
        if len(self) >= capacity:
            self.prepare_drop(capacity)
            total, weighted = self._drop
            for stack in self._stacks():
                stack.drop_last()
            self._total.items.sub_(total)
            self._weighted.items.sub_(weighted)
        self._add(feature, label)
        self._encoding = None

    def _add(self, feature: Tensor, label: Tensor) -> None:
        self._drop = None
        key = self._net.memory_keys(feature)
        own_total, own_weighted, added_total, added_weighted = self._net.memory_push_sums(
            key, feature, self._keys.items, self.features
        )
        self._total.items.add_(added_total)
        self._weighted.items.add_(added_weighted)
        new = (feature, label, key, own_total, own_weighted)
        for stack, item in zip(self._stacks(), new, strict=True):
            stack.push_front(item)

    @property
    def encoded(self) -> Tensor:
        """The encoded memory (N, C, H, W)."""
        return self._encoded()[0]

    @property
    def decoder(self) -> list[Tensor]:
        """What decoding needs of the encoded memory (``decoder_memory``)."""
        return self._encoded()[1]

    def _encoded(self) -> tuple[Tensor, list[Tensor]]:
        if self._encoding is None:
            sums = [self._total.items, self._weighted.items]
            encoded = self._net.encoded_memory(self.features, sums)
            self._encoding = (encoded, self._net.decoder_memory(encoded, self.labels))
        return self._encoding
