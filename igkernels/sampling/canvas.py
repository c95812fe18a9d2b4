"""The canvas of a decode: prompts + masks, right padded, with the block of every position."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .config import DecodeConfig
from .host import upload


@dataclass
class Canvas:
    """Initial layout of B sequences (host arrays are numpy; tensors are on the model's device).

    Each sequence is ``prompt + max_new_tokens masks``, RIGHT padded to the batch width T, so
    every position has the index it has when the sequence is decoded alone and padding is
    excluded by the attention mask.

    x              [B, T] int64 token ids
    block          [B, T] int64: 0 = the prompt's own masks, 1.. = generation blocks, -1 = never
                   decoded. Block-diffusion models (``aligned_blocks``) decode blocks at absolute
                   multiples of block_length, the blocks their attention was trained on; the first
                   may be partly prompt.
    attn           [B, T] bool, False on padding
    gen_region     [B, T] bool, the generated positions (after the prompt)
    block_steps    [B, blocks + 1] int64: steps of each block, split evenly over a sequence's
                   blocks, the remainder to the first ones
    seeds          [B] int64
    masks          numpy [B]: masked positions of each sequence at the start
    block_steps_host, block_masks   numpy [B, blocks + 1]: ``block_steps`` on the host, and the
                   masks of each block at the start (no step commits more than its block holds)
    block_start, block_end   numpy [B, blocks + 1]: the first and one past the last position of
                   each block (the positions a KV cache window is cut from)
    """

    x: torch.Tensor
    block: torch.Tensor
    attn: torch.Tensor
    gen_region: torch.Tensor
    block_steps: torch.Tensor
    seeds: torch.Tensor
    masks: np.ndarray
    block_steps_host: np.ndarray
    block_masks: np.ndarray
    block_start: np.ndarray
    block_end: np.ndarray
    prompt_lengths: list[int]
    lengths: list[int]

    @property
    def padded(self) -> bool:
        return min(self.lengths) != max(self.lengths)

    @classmethod
    def build(cls, ids: list[list[int]], seeds: list[int], config: DecodeConfig, mask_id: int, pad_id: int,
              aligned_blocks: bool, device: torch.device) -> Canvas:
        G, L = config.max_new_tokens, config.block_length
        B = len(ids)
        lengths = [len(p) + G for p in ids]
        T = max(lengths)
        x = np.full((B, T), pad_id, dtype=np.int64)
        block = np.full((B, T), -1, dtype=np.int64)
        for b, p in enumerate(ids):
            P = len(p)
            x[b, :P] = p
            x[b, P:P + G] = mask_id
            block[b, :P][x[b, :P] == mask_id] = 0
            gen = np.arange(P, P + G)
            block[b, P:P + G] = 1 + (gen // L - P // L if aligned_blocks else (gen - P) // L)
        pos = np.arange(T)
        attn = pos[None, :] < np.array(lengths)[:, None]
        prompt = np.array([len(p) for p in ids])
        gen_region = (pos[None, :] >= prompt[:, None]) & attn
        steps = _steps_per_block(block, config)
        masked = (x == mask_id) & attn
        block_masks, start, end = np.zeros_like(steps), np.zeros_like(steps), np.zeros_like(steps)
        for b in range(B):
            np.add.at(block_masks[b], block[b][masked[b] & (block[b] >= 0)], 1)
            for blk in np.unique(block[b][block[b] >= 0]).tolist():
                where = np.flatnonzero(block[b] == blk)
                start[b, blk], end[b, blk] = where[0], where[-1] + 1
        return cls(x=upload(x, device), block=upload(block, device), attn=upload(attn, device, torch.bool),
                   gen_region=upload(gen_region, device, torch.bool), block_steps=upload(steps, device),
                   seeds=upload(seeds, device), masks=masked.sum(1), block_steps_host=steps, block_masks=block_masks,
                   block_start=start, block_end=end, prompt_lengths=[len(p) for p in ids], lengths=lengths)


def _steps_per_block(block: np.ndarray, config: DecodeConfig) -> np.ndarray:
    """[B, blocks + 1]: ``steps`` split evenly over each sequence's blocks (the prompt's own
    masks, if any, count as a block), the remainder to the first ones."""
    steps = config.steps
    n_blocks = np.maximum(block.max(1), 0)
    out = np.zeros((block.shape[0], int(n_blocks.max()) + 1), dtype=np.int64)
    for b in range(block.shape[0]):
        present = ([0] if (block[b] == 0).any() else []) + list(range(1, n_blocks[b] + 1))
        if steps < len(present):
            raise ValueError(f"steps ({steps}) must be >= the number of blocks ({len(present)}: "
                             f"max_new_tokens={config.max_new_tokens} / block_length={config.block_length}"
                             + (" + 1 for the prompt's own masks" if present[:1] == [0] else "") + ")")
        for j, blk in enumerate(present):
            out[b, blk] = steps // len(present) + (j < steps % len(present))
    return out
