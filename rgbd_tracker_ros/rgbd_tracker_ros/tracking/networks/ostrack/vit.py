"""OSTrack's one-stream ViT-B with early candidate elimination (botaoye/OSTrack ``vit_ce.py``).

Template and search patches are embedded by one patch embedding, concatenated (template
first) and run through the transformer blocks together. In the candidate-elimination (CE)
blocks the search tokens the template's centre token attends to least are dropped after the
attention step: ``ceil(keep_ratio * remaining)`` stay. ``global_index`` holds, for every token
still in play, its position in the original search grid; the dropped positions are collected
so the final search tokens can be scattered back onto the full grid (dropped cells are zero)
for the box head. Parameter names and shapes are the reference's (``backbone.*`` keys of an
official checkpoint, including the ImageNet ``cls_token``/``pos_embed`` it keeps but never uses).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

# ViT-B/16 pre-trained at 224 px: 14 x 14 patches + the class token (stored, unused).
PRETRAIN_POSITIONS = (224 // 16) ** 2 + 1


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch`` x ``patch`` convolution, flattened to (B, tokens, dim)."""

    def __init__(self, in_chans: int, embed_dim: int, patch: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch, stride=patch)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention that also returns the attention weights (CE needs them)."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, dim // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(out), attn


class Mlp(nn.Module):
    """timm's ``Mlp`` (fc1 - GELU - fc2) under its parameter names."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def candidate_elimination(
    attn: Tensor, tokens: Tensor, lens_t: int, keep_ratio: float, global_index: Tensor, centre: int
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Keep the search tokens the template's centre token attends to most (heads averaged).

    Returns the shortened tokens, the kept tokens' original search positions (in rank order)
    and the removed ones' (None when nothing is removed).
    """
    lens_s = attn.shape[-1] - lens_t
    lens_keep = math.ceil(keep_ratio * lens_s)
    if lens_keep == lens_s:
        return tokens, global_index, None
    weights = attn[:, :, centre : centre + 1, lens_t:].mean(dim=2).mean(dim=1)
    # Sorting (not topk) as the reference, so equal weights are ranked the same way.
    _, order = torch.sort(weights, dim=1, descending=True)
    kept, removed = order[:, :lens_keep], order[:, lens_keep:]
    batch, _, dim = tokens.shape
    search = tokens[:, lens_t:].gather(1, kept.unsqueeze(-1).expand(batch, -1, dim))
    new_tokens = torch.cat([tokens[:, :lens_t], search], dim=1)
    return new_tokens, global_index.gather(1, kept), global_index.gather(1, removed)


class CEBlock(nn.Module):
    """Pre-norm transformer block; with ``keep_ratio < 1`` it eliminates search tokens."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, keep_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.keep_ratio = float(keep_ratio)

    def forward(
        self, x: Tensor, global_index: Tensor, lens_t: int, centre: int
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        attended, attn = self.attn(self.norm1(x))
        x = x + attended
        removed: Tensor | None = None
        if self.keep_ratio < 1.0:
            x, global_index, removed = candidate_elimination(
                attn, x, lens_t, self.keep_ratio, global_index, centre
            )
        x = x + self.mlp(self.norm2(x))
        return x, global_index, removed


def restore_search_tokens(
    x: Tensor, lens_t: int, lens_s: int, global_index: Tensor, removed: list[Tensor]
) -> Tensor:
    """Template tokens + the search tokens back on the full grid (removed cells zero)."""
    if len(removed) == 0:
        return x
    template, search = x[:, :lens_t], x[:, lens_t:]
    batch, kept, dim = search.shape
    padded = torch.cat([search, search.new_zeros(batch, lens_s - kept, dim)], dim=1)
    index = (
        torch.cat((global_index, torch.cat(removed, dim=1)), dim=1)
        .unsqueeze(-1)
        .expand(batch, -1, dim)
    )
    restored = torch.zeros_like(padded).scatter_(1, index, padded)
    return torch.cat([template, restored], dim=1)


def centre_token(grid: int) -> int:
    """Index of the template token the CE ranks by (reference CE_TEMPLATE_RANGE 'CTR_POINT').

    The reference tabulates the centre cell per grid side (7: 3, 8: 3, 12: 5, 14: 6), which is
    ``(grid - 1) // 2`` in both directions.
    """
    cell = (grid - 1) // 2
    return cell * grid + cell


class VisionTransformerCE(nn.Module):
    """The OSTrack backbone. Inputs are normalised images; output tokens are template + search.

    ``forward`` returns the final tokens (search tokens restored to grid order) and the removed
    search positions of each CE block that removed any.
    """

    def __init__(
        self,
        template_grid: int,
        search_grid: int,
        patch: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float,
        ce_loc: tuple[int, ...],
        ce_keep_ratio: tuple[float, ...],
    ) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, PRETRAIN_POSITIONS, embed_dim))
        self.pos_embed_z = nn.Parameter(torch.zeros(1, template_grid**2, embed_dim))
        self.pos_embed_x = nn.Parameter(torch.zeros(1, search_grid**2, embed_dim))
        self.patch_embed = PatchEmbed(3, embed_dim, patch)
        keep = dict(zip(ce_loc, ce_keep_ratio, strict=True))
        self.blocks = nn.ModuleList(
            [CEBlock(embed_dim, num_heads, mlp_ratio, keep.get(i, 1.0)) for i in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.centre = centre_token(template_grid)
        for parameter in (self.pos_embed_z, self.pos_embed_x, self.cls_token, self.pos_embed):
            nn.init.trunc_normal_(parameter, std=0.02)

    def embed(self, z: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        """Patch embeddings plus position embeddings of template and search."""
        return self.patch_embed(z) + self.pos_embed_z, self.patch_embed(x) + self.pos_embed_x

    def forward(self, z: Tensor, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        z, x = self.embed(z, x)
        return self.run_blocks(torch.cat([z, x], dim=1), x.shape[0])

    def run_blocks(self, x: Tensor, batch: int) -> tuple[Tensor, list[Tensor]]:
        lens_t, lens_s = self.pos_embed_z.shape[1], self.pos_embed_x.shape[1]
        global_index = torch.arange(lens_s, device=x.device).repeat(batch, 1)
        removed: list[Tensor] = []
        for block in self.blocks:
            x, global_index, dropped = block(x, global_index, lens_t, self.centre)
            if dropped is not None:
                removed.append(dropped)
        x = self.norm(x)
        return restore_search_tokens(x, lens_t, lens_s, global_index, removed), removed
