"""TrDiMP's transformer, laid out so the official state dict loads.

Paper: Wang et al., "Transformer Meets Tracker: Exploiting Temporal Context for Robust Visual
Tracking", CVPR 2021.

The reference implementation (594422814/TransformerTrack) is a single-head, single-layer
encoder/decoder with "relation units": cosine-similarity attention with a temperature of 30,
ONE key projection ``WK`` applied to both queries and keys, the value left unprojected, and an
instance L2 normalisation after every residual step (``ltr/models/target_classifier/
transformer.py`` and ``multihead_attention.py`` there).

Layout details that strict loading depends on:

* One self-attention module is shared by the encoder and the decoder, so the state dict lists its
  tensors under both ``encoder.layers.0.self_attn`` and ``decoder.layers.0.self_attn``; we share
  the module too, and ``load_state_dict`` assigns both keys to the same tensors.
* ``WV`` (512x512) is in the state dict but never used by the reference's forward pass.

Here features stay feature maps ``(images, C, H, W)`` (one sequence) instead of the reference's
``(tokens, batch, C)``: the attention is the same function, the per-image normalisation is
simpler to state, and several query images can be decoded at once (the reference decodes
them one by one; each image's result does not depend on the others).

The encoder's self-attention runs over every pixel of every memory image (20 images of 22x22:
a 9680 x 9680 attention), and the tracker changes one image of the memory at a time. So its
softmax is kept as sums per (query image, key image) block: for each query token the sum of
``exp(temperature * (cos - 1))`` over a key image's tokens and the same weights applied to
their values (cos <= 1, and the token's own key gives 1, so nothing overflows or vanishes).
A memory change adds the new image's blocks and takes the dropped image's blocks out again,
computed the same way (newer image's tokens as queries); the sums over blocks are float64, so
taking out is exact to the float32 rounding of one block, and an image's sums live only until
it leaves the memory: nothing drifts over hours. Queries and keys share one embedding, so the
new image's blocks over the others and theirs over it come from one set of weights.
The encoding is then ``IN(X + S / Z)`` per image: the reference's function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rgbd_tracker_ros.tracking.networks.dimp.classifier import InstanceL2Norm
from rgbd_tracker_ros.tracking.networks.products import cpu_kernels, linear, traced

ATTENTION_TEMPERATURE = 30.0
"""Softmax temperature of every relation unit: a constant of the reference, not a weight."""

KEY_FEATURE_DIM = 128
"""Width of the ``WK`` projection (``key_feature_dim`` of the reference)."""

QUERY_CHUNK = 1024
"""Query tokens attended at once; bounds the attention weights' memory, not the result."""

LABEL_SIGMA_FACTOR = 0.1
"""Gaussian label width relative to sqrt(feature cells); fixed by the reference tracker and
the training label function, so part of what the network was trained for."""


def _tokens(maps: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H*W, C), pixels in row-major order (the reference's token order)."""
    return maps.flatten(2).transpose(1, 2)


def _maps(tokens: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Inverse of ``_tokens`` for tokens grouped like ``like`` (N, C, H, W)."""
    n, c, h, w = like.shape
    return tokens.reshape(n, h * w, c).transpose(1, 2).reshape(n, c, h, w)


def _float64_sum(blocks: torch.Tensor) -> torch.Tensor:
    """``blocks.sum(dim=1, dtype=torch.float64)`` for blocks (Q, N, D), in the same order:
    torch's float64-accumulating reduction of float32 is a slow path (14 ms against 0.9 for
    19 blocks of 484 x 512)."""
    if not cpu_kernels(blocks):
        return blocks.sum(dim=1, dtype=torch.float64)
    total = blocks[:, 0].to(torch.float64)
    for index in range(1, blocks.shape[1]):
        total += blocks[:, index]
    return total


# The products below run on CPU through oneDNN (see ``networks/products.py``).


def _block_products(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Blocks (N*L, Q) of ``weights``, one per key image, reduced with that image's values
    (N, L, D): (Q, N, D), ``block n^T @ values[n]``."""
    num_keys, length, queries = values.shape[0], values.shape[1], weights.shape[1]
    blocks = weights.reshape(num_keys, length, queries)
    if not cpu_kernels(weights):
        return torch.bmm(values.transpose(1, 2), blocks).permute(2, 0, 1)
    # One product per key image, both operands transposed views (no copies): 14 ms for 19
    # blocks of 484 x 484 x 512, where a grouped convolution took 34 ms with its transposes.
    products = [linear(blocks[n].t(), values[n].t()) for n in range(num_keys)]
    return torch.stack(products, dim=1)


def _sums_over_keys(
    weights: torch.Tensor, values: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Z (Q,) and S (Q, D) of ``block_weights`` (N*L, Q) over the key images' values
    (N, L, D): each block reduced over its key image in float32, the blocks summed in float64."""
    length = values.shape[1]
    per_key = weights.reshape(values.shape[0], length, -1)
    total = per_key.sum(dim=1).to(torch.float64).sum(dim=0)
    return total, _float64_sum(_block_products(weights, values))


class RelationUnit(nn.Module):
    """One attention head: softmax(temperature * cos(WK q, WK k)) applied to raw values."""

    def __init__(self, feature_dim: int = 512, key_feature_dim: int = KEY_FEATURE_DIM) -> None:
        super().__init__()
        self.temperature = ATTENTION_TEMPERATURE
        self.query_chunk = QUERY_CHUNK
        self.WK = nn.Linear(feature_dim, key_feature_dim)
        # Loaded from the checkpoint for strictness; the reference never applies it.
        self.WV = nn.Linear(feature_dim, feature_dim)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.WK(tokens), p=2.0, dim=-1)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Tokens (B, Lq, C), (B, Lk, C), values (B, Lk, D) -> (B, Lq, D)."""
        return self.attend(self.embed(query), self.embed(key).transpose(1, 2), value)

    def attend(
        self, query_keys: torch.Tensor, keys: torch.Tensor, value: torch.Tensor
    ) -> torch.Tensor:
        """Embedded queries (B, Lq, K), embedded keys TRANSPOSED (B, K, Lk), values (B, Lk, D).

        Queries go in chunks so that the Lq x Lk weights never exist at once for a large
        memory.
        """
        # One chunk when traced: Inductor (torch 2.13) sized the last chunk of a split of a
        # dynamic length wrongly (a negative dimension in TrDiMP's first-frame decoding).
        chunk = query_keys.shape[1] if traced() else self.query_chunk
        outputs: list[torch.Tensor] = []
        for part in torch.split(query_keys, chunk, dim=1):
            weights = torch.softmax(torch.bmm(part, keys) * self.temperature, dim=-1)
            outputs.append(torch.bmm(weights, value))
        return torch.cat(outputs, dim=1)

    def block_weights(self, keys: torch.Tensor, query_keys: torch.Tensor) -> torch.Tensor:
        """Softmax weights (not normalised) of query images (Nq, L, K) over key images
        (Nk, L, K), key tokens first: (Nk*L, Nq*L), every block in one product."""
        width = keys.shape[2]
        cosine = linear(keys.reshape(-1, width), query_keys.reshape(-1, width))
        return torch.exp((cosine - 1.0) * self.temperature)

    def block_sums(
        self, query_keys: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> list[torch.Tensor]:
        """Softmax sums of query images (Nq, L, K) over key images (Nk, L, K) with values
        (Nk, L, D): [Z (Nq, L), S (Nq, L, D)], float64, summed over the key images.

        Each block is reduced over its own key image in float32 and the blocks are summed in
        float64, so a block's share does not depend on which other blocks come with it: taking
        a block out again later is exact to float32 rounding of that block.
        """
        num_queries, length = query_keys.shape[0], query_keys.shape[1]
        total, weighted = _sums_over_keys(self.block_weights(keys, query_keys), values)
        return [total.reshape(num_queries, length), weighted.reshape(num_queries, length, -1)]

    def push_sums(
        self, key: torch.Tensor, value: torch.Tensor, keys: torch.Tensor, values: torch.Tensor
    ) -> list[torch.Tensor]:
        """Sums of a new image (1, L, K) keys, (1, L, D) values put in front of a memory
        (M, L, K), (M, L, D): [Z, S] of the new image over itself and the memory, and [Z, S]
        of the memory's images over the new one. The last S, one block per memory image, stays
        float32: the memory adds it to its float64 sums in place (as a float64 copy it would
        be 40 MB written and read again at every push).

        Queries and keys share one embedding, so the blocks of (image i, new image) are the
        transposes of those of (new image, image i): one set of weights serves both.
        """
        own = self.block_sums(key, key, value)
        images, length = keys.shape[0], keys.shape[1]
        weights = self.block_weights(keys, key)  # (M*L, L): memory tokens x new tokens
        total, weighted = _sums_over_keys(weights, values)
        added_total = weights.sum(dim=1).to(torch.float64).reshape(images, length)
        added = linear(weights, value[0].t()).reshape(images, length, -1)
        return [
            own[0] + total.reshape(1, length),
            own[1] + weighted.reshape(1, length, -1),
            added_total,
            added,
        ]


class MultiheadAttention(nn.Module):
    """The reference's container of relation units; TrDiMP uses exactly one (``head.0``).

    With one head the reference's concatenation over heads is the identity, so a single unit
    is all that exists here.
    """

    def __init__(self, feature_dim: int = 512, key_feature_dim: int = KEY_FEATURE_DIM) -> None:
        super().__init__()
        self.head = nn.ModuleList([RelationUnit(feature_dim, key_feature_dim)])

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return self.head[0](query, key, value)


def _norm_scale(feature_dim: int) -> float:
    """InstanceL2Norm scale of every transformer step: that of 4x4-filter classifier features.

    The reference writes the 4 * 4 as constants, whatever the classifier's filter size.
    """
    return math.sqrt(1.0 / (feature_dim * 4 * 4))


class TransformerEncoderLayer(nn.Module):
    """E = IN(X + SA(X, X, X)) with attention across ALL memory images' pixels jointly."""

    def __init__(self, self_attn: MultiheadAttention, norm_scale: float) -> None:
        super().__init__()
        self.self_attn = self_attn
        self.norm = InstanceL2Norm(scale=norm_scale)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        """Embedded keys (= queries) of each memory image: (N, H*W, K)."""
        return self.self_attn.head[0].embed(_tokens(memory))

    def encoded(
        self, memory: torch.Tensor, total: torch.Tensor, weighted: torch.Tensor
    ) -> torch.Tensor:
        """IN(X + S / Z) from the block sums over the whole memory (``block_sums``); the
        quotient in the features' precision (float64 sums, float32 result)."""
        attended = weighted.to(memory.dtype) / total[:, :, None].to(memory.dtype)
        return self.norm(memory + _maps(attended, memory))


class TransformerDecoderLayer(nn.Module):
    """The decoder step of the reference, per query image.

    T = IN(Z + SA(Z)) (self-attention inside the image); from the cross-attention A of T over
    the encoded memory E: mask = A @ labels, T2 = IN(T * mask); T4 = IN(T + A @ (E * labels));
    output IN(T2 + T4). Both cross-attention calls share query, key and WK, hence one A, applied
    to the labels and the label-masked memory side by side.
    """

    def __init__(self, self_attn: MultiheadAttention, feature_dim: int, norm_scale: float) -> None:
        super().__init__()
        self.self_attn = self_attn
        self.cross_attn = MultiheadAttention(feature_dim)
        self.norm = InstanceL2Norm(scale=norm_scale)

    def memory(self, encoded: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        """What the cross-attention needs of the encoded memory (N, C, H, W) and its labels
        (N, H, W), fixed until the memory changes: [keys (1, K, N*H*W), values (1, N*H*W, 1+C)]."""
        c = encoded.shape[1]
        memory_tokens = _tokens(encoded).reshape(1, -1, c)
        label_tokens = labels.reshape(1, -1, 1)
        values = torch.cat((label_tokens, memory_tokens * label_tokens), dim=2)
        keys = self.cross_attn.head[0].embed(memory_tokens).transpose(1, 2)
        return [keys, values]

    def forward(self, query: torch.Tensor, memory: list[torch.Tensor]) -> torch.Tensor:
        c = query.shape[1]
        query_tokens = _tokens(query)
        target = self.norm(
            query + _maps(self.self_attn(query_tokens, query_tokens, query_tokens), query)
        )
        target_tokens = _tokens(target).reshape(1, -1, c)
        unit = self.cross_attn.head[0]
        attended = unit.attend(unit.embed(target_tokens), memory[0], memory[1])
        mask, masked_memory = attended[:, :, :1], attended[:, :, 1:]

        target_masked = self.norm(target * _maps(mask, target[:, :1]))
        target_plus = self.norm(target + _maps(masked_memory, target))
        return self.norm(target_masked + target_plus)


class TransformerEncoder(nn.Module):
    def __init__(self, layer: TransformerEncoderLayer) -> None:
        super().__init__()
        self.layers = nn.ModuleList([layer])


class TransformerDecoder(nn.Module):
    def __init__(self, layer: TransformerDecoderLayer) -> None:
        super().__init__()
        self.layers = nn.ModuleList([layer])


class Transformer(nn.Module):
    """``classifier.transformer`` of the TrDiMP checkpoint (d_model 512, one head, one layer).

    The reference has exactly one encoder and one decoder layer (``layers.0``); the methods
    below name them directly.
    """

    def __init__(self, feature_dim: int = 512) -> None:
        super().__init__()
        shared_self_attn = MultiheadAttention(feature_dim)
        norm_scale = _norm_scale(feature_dim)
        self.encoder = TransformerEncoder(TransformerEncoderLayer(shared_self_attn, norm_scale))
        self.decoder = TransformerDecoder(
            TransformerDecoderLayer(shared_self_attn, feature_dim, norm_scale)
        )

    def memory_keys(self, memory: torch.Tensor) -> torch.Tensor:
        """The encoder's embedded keys of memory images (N, C, H, W): (N, H*W, K)."""
        return self.encoder.layers[0].keys(memory)

    def block_sums(
        self, query_keys: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor
    ) -> list[torch.Tensor]:
        """The encoder's softmax sums of query images over the key images ``memory``
        (N, C, H, W) with their ``keys``: [Z (Nq, H*W), S (Nq, H*W, C)] (float64)."""
        unit = self.encoder.layers[0].self_attn.head[0]
        return unit.block_sums(query_keys, keys, _tokens(memory))

    def push_sums(
        self, key: torch.Tensor, feature: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor
    ) -> list[torch.Tensor]:
        """The block sums of putting image ``feature`` (1, C, H, W) in front of ``memory``
        (M, C, H, W): [Z, S] of the new image over all, [Z, S] of the others over it."""
        unit = self.encoder.layers[0].self_attn.head[0]
        return unit.push_sums(key, _tokens(feature), keys, _tokens(memory))

    def encoded(self, memory: torch.Tensor, sums: list[torch.Tensor]) -> torch.Tensor:
        """Encoded memory from its block sums over the whole memory."""
        return self.encoder.layers[0].encoded(memory, sums[0], sums[1])

    def decoder_memory(self, encoded: torch.Tensor, labels: torch.Tensor) -> list[torch.Tensor]:
        """The decoder's view of the encoded memory and its Gaussian labels (N, H, W)."""
        return self.decoder.layers[0].memory(encoded, labels)

    def decode(self, query: torch.Tensor, memory: list[torch.Tensor]) -> torch.Tensor:
        """Query features (M, C, H, W) against ``decoder_memory`` -> decoded features
        (M, C, H, W), each query image on its own."""
        return self.decoder.layers[0](query, memory)


def gaussian_labels(
    boxes_xywh: torch.Tensor,
    feature_size: int,
    image_size: float,
    kernel_size: int,
    sigma_factor: float = LABEL_SIGMA_FACTOR,
) -> torch.Tensor:
    """Target labels of the transformer memory: (N, 4) sample-pixel boxes -> (N, H, W).

    A Gaussian of width ``sigma_factor * feature_size`` cells at the box centre, on the
    feature grid (not the score grid), shifted by half a cell for an even kernel as in the
    reference's ``gaussian_label_function(..., end_pad_if_even=False)``.
    """
    centre = boxes_xywh[:, :2] + 0.5 * boxes_xywh[:, 2:]
    even_shift = 0.5 * float((kernel_size + 1) % 2)
    centre = feature_size * (centre - image_size / 2) / image_size + even_shift
    sigma = sigma_factor * float(feature_size)
    grid = torch.arange(feature_size, dtype=boxes_xywh.dtype, device=boxes_xywh.device)
    grid = grid - (feature_size - 1) / 2
    gauss_x = torch.exp(-0.5 * ((grid[None, :] - centre[:, 0:1]) / sigma) ** 2)
    gauss_y = torch.exp(-0.5 * ((grid[None, :] - centre[:, 1:2]) / sigma) ** 2)
    return gauss_y[:, :, None] * gauss_x[:, None, :]
