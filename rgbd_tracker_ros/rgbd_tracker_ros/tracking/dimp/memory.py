"""The DiMP filter optimiser's training-sample memory."""

from __future__ import annotations

import numpy as np
import torch


class SampleMemory:
    """Training samples of the filter optimiser with the reference's sample-weight schedule.

    The first ``num_init`` (augmented first-frame) samples never fall below a total weight of
    ``init_min_weight``; later samples enter with the learning rate and replace the lowest
    weight once the memory is full.
    """

    def __init__(
        self, samples: torch.Tensor, boxes: torch.Tensor, capacity: int, init_min_weight: float
    ) -> None:
        count = samples.shape[0]
        if count > capacity:
            raise ValueError(f"{count} first-frame samples exceed sample_memory_size {capacity}")
        self.samples = samples.new_zeros((capacity, *samples.shape[1:]))
        self.samples[:count] = samples
        self.boxes = boxes.new_zeros((capacity, 4))
        self.boxes[:count] = boxes
        self.weights = np.zeros(capacity)
        self.weights[:count] = 1.0 / count
        self.num_init = count
        self.num_stored = count
        self.init_min_weight = init_min_weight
        self.previous_replace: int | None = None

    def add(self, sample: torch.Tensor, box: torch.Tensor, learning_rate: float) -> None:
        index = self._update_weights(learning_rate)
        self.previous_replace = index
        self.samples[index] = sample[0]
        self.boxes[index] = box
        self.num_stored = min(self.num_stored + 1, len(self.weights))

    def _update_weights(self, lr: float) -> int:
        """Update the weights in place; return the slot to overwrite (update_sample_weights)."""
        w = self.weights
        start = self.num_init if self.init_min_weight > 0 else 0
        full = self.num_stored >= len(w)
        index = int(np.argmin(w[start:])) + start if full else self.num_stored
        if self.previous_replace is None:
            w /= 1 - lr
            w[index] = lr
        else:
            w[index] = w[self.previous_replace] / (1 - lr)
        w /= w.sum()
        if self.init_min_weight > 0 and w[: self.num_init].sum() < self.init_min_weight:
            w /= self.init_min_weight + w[self.num_init :].sum()
            w[: self.num_init] = self.init_min_weight / self.num_init
        return index

    def training_set(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Samples, boxes and weights of the whole memory, empty slots included.

        An empty slot has zero features, a zero box and weight zero, so it adds exact zeros to
        the optimiser's sums: the result is that of the stored samples alone, and every
        optimisation sees one sample count (``capacity``), the only one a compiled ``.pt2``
        graph is built for.
        """
        weights = torch.from_numpy(self.weights).to(self.samples.device, self.samples.dtype)
        return self.samples, self.boxes, weights
