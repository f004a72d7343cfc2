"""ViPT (jiawen-zhu/ViPT ``vit_ce_prompt.py``, ``deep_rgbd``): OSTrack with depth prompts.

The 6-channel input is split into RGB (embedded by OSTrack's ``patch_embed``) and the depth
colour map (its own ``patch_embed_prompt``). Before block 0 and before every later block
(``vipt_deep``: one prompt block per layer), a prompt block mixes the current tokens with the
previous prompt tokens and adds the result to the tokens:

* block 0: ``prompt = P0([N0(rgb) ; N0(depth)])``, tokens = rgb + prompt (then position
  embeddings, as the reference adds them after the prompt);
* block i >= 1: the current tokens are restored to the full search grid (eliminated cells
  zero), normalised with ``N(i-1)``; the previous prompt tokens with ``N(i)``;
  ``prompt = Pi([tokens ; prompt])``; the prompt tokens of the search tokens still in play are
  added to the tokens.

``P`` is a ``PromptBlock`` (1x1 convolutions to 8 channels, a spatial softmax "fovea" on the
first half, back to the embedding width); ``N`` are the ``prompt_norms`` LayerNorms. Everything
else, candidate elimination included, is OSTrack's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from rgbd_tracker_ros.tracking.networks.ostrack.network import OSTrackConfig, OSTrackNet
from rgbd_tracker_ros.tracking.networks.ostrack.vit import (
    PatchEmbed,
    VisionTransformerCE,
    restore_search_tokens,
)

HIDE_CHANNELS = 8


class Fovea(nn.Module):
    """Per-channel softmax over positions, sharpened by the learned ``smooth`` factor."""

    def __init__(self) -> None:
        super().__init__()
        self.smooth = nn.Parameter(torch.full((1,), 10.0))

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height, width = x.shape
        flat = x.reshape(batch, channels, height * width)
        # The reference branches on the parameter's truth value: exactly 0 means no sharpening.
        factor = torch.where(self.smooth != 0, self.smooth, torch.ones_like(self.smooth))
        return ((flat * factor).softmax(dim=-1) * flat).reshape(batch, channels, height, width)


class PromptBlock(nn.Module):
    """``[a ; b]`` (2C channels) -> ``conv1x1(fovea(conv0_0(a)) + conv0_1(b))`` (C channels)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv0_0 = nn.Conv2d(dim, HIDE_CHANNELS, kernel_size=1)
        self.conv0_1 = nn.Conv2d(dim, HIDE_CHANNELS, kernel_size=1)
        self.conv1x1 = nn.Conv2d(HIDE_CHANNELS, dim, kernel_size=1)
        self.fovea = Fovea()
        for parameter in self.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def forward(self, x: Tensor) -> Tensor:
        half = x.shape[1] // 2
        mixed = self.fovea(self.conv0_0(x[:, :half])) + self.conv0_1(x[:, half:])
        return self.conv1x1(mixed)


def tokens_to_map(tokens: Tensor) -> Tensor:
    """(B, L, C) square grid of tokens -> (B, C, side, side)."""
    batch, length, dim = tokens.shape
    side = int(math.sqrt(length))
    return tokens.transpose(1, 2).reshape(batch, dim, side, side)


def map_to_tokens(feature: Tensor) -> Tensor:
    return feature.flatten(2).transpose(1, 2)


class PromptedVisionTransformerCE(VisionTransformerCE):
    """The ViPT backbone: OSTrack's plus ``patch_embed_prompt``, ``prompt_blocks``,
    ``prompt_norms``. Inputs are normalised 6-channel images (RGB, then depth)."""

    def __init__(self, **backbone_args: Any) -> None:
        super().__init__(**backbone_args)
        dim, depth = int(backbone_args["embed_dim"]), int(backbone_args["depth"])
        self.patch_embed_prompt = PatchEmbed(3, dim, int(backbone_args["patch"]))
        self.prompt_blocks = nn.ModuleList([PromptBlock(dim) for _ in range(depth)])
        self.prompt_norms = nn.ModuleList([nn.LayerNorm(dim, eps=1e-6) for _ in range(depth)])

    def _stack(self, tokens: Tensor, prompt: Tensor) -> Tensor:
        """A prompt block's input: tokens and prompt tokens as maps, channels concatenated."""
        return torch.cat([tokens_to_map(tokens), tokens_to_map(prompt)], dim=1)

    def forward(self, z: Tensor, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        z_rgb, x_rgb = self.patch_embed(z[:, :3]), self.patch_embed(x[:, :3])
        z_depth, x_depth = self.patch_embed_prompt(z[:, 3:]), self.patch_embed_prompt(x[:, 3:])
        z_stack = self._stack(self.prompt_norms[0](z_rgb), self.prompt_norms[0](z_depth))
        x_stack = self._stack(self.prompt_norms[0](x_rgb), self.prompt_norms[0](x_depth))
        z_prompt = map_to_tokens(self.prompt_blocks[0](z_stack))
        x_prompt = map_to_tokens(self.prompt_blocks[0](x_stack))
        z_tokens = z_rgb + z_prompt + self.pos_embed_z
        x_tokens = x_rgb + x_prompt + self.pos_embed_x
        tokens = torch.cat([z_tokens, x_tokens], dim=1)

        batch = x.shape[0]
        lens_t, lens_s = self.pos_embed_z.shape[1], self.pos_embed_x.shape[1]
        global_index = torch.arange(lens_s, device=x.device).repeat(batch, 1)
        removed: list[Tensor] = []
        # The tokens restored to the full grid and normalised by the previous layer's norm.
        previous = tokens
        last = len(self.blocks) - 1
        for i, (block, norm, prompt_block) in enumerate(
            zip(self.blocks, self.prompt_norms, self.prompt_blocks)  # noqa: B905 (TorchScript: no strict=)
        ):
            if i > 0:
                z_prompt = map_to_tokens(
                    prompt_block(self._stack(previous[:, :lens_t], norm(z_prompt)))
                )
                x_prompt = map_to_tokens(
                    prompt_block(self._stack(previous[:, lens_t:], norm(x_prompt)))
                )
                kept = x_prompt.gather(
                    1, global_index.unsqueeze(-1).expand(batch, -1, x_prompt.shape[2])
                )
                tokens = tokens + torch.cat([z_prompt, kept], dim=1)
            tokens, global_index, dropped = block(tokens, global_index, lens_t, self.centre)
            if dropped is not None:
                removed.append(dropped)
            if i < last:
                previous = norm(
                    restore_search_tokens(tokens, lens_t, lens_s, global_index, removed)
                )
        tokens = self.norm(tokens)
        return restore_search_tokens(tokens, lens_t, lens_s, global_index, removed), removed


def build_vipt(kwds: Mapping[str, Any]) -> OSTrackNet:
    """ViPT ``deep_rgbd`` from configuration values (``OSTrackConfig`` field names)."""
    config = OSTrackConfig.from_kwds(kwds)
    return OSTrackNet(
        PromptedVisionTransformerCE(**config.backbone_args()), config, "vipt_rgbd", True
    )
