"""Counter-based random numbers shared by every backend (Philox4x32-10).

Every random number igkernels draws is a pure function of a 64-bit key and a
128-bit counter, so a seed gives the same draws on every run, batch layout and
backend. The layout, which the C++, CUDA and Triton kernels reproduce bit for bit:

    key     = (seed & 0xFFFFFFFF, seed >> 32)            seed: unsigned 64-bit
    counter = (col >> 2, row, stream | domain << 24, offset)
    word    = philox4x32_10(key, counter)[col & 3]       one uint32 per column
    u       = ((word >> 9) + 0.5) * 2**-23               in (0, 1), exact in fp32
    gumbel  = -log(-log(u))                              computed in fp32

* ``col``: the draw index s (token draws: one uniform per draw) or the sequence position
  (position draws: one Gumbel number per position).
* ``row``: the logical row index (flattened leading dims of the logits, or the batch
  index for positions). When the caller passes one seed *per row* instead, ``row`` is 0:
  the row is then identified by its own key, which is how the sampler makes draws
  independent of where a sequence sits in a batch.
* ``stream``: 0 (token draws) or the candidate index (position draws), < 2**24.
* ``domain``: ``TOKEN_DOMAIN`` (0) for token draws, ``POSITION_DOMAIN`` (1) for candidate
  position draws, so the two never share a counter.
* ``offset``: the caller's step counter, < 2**32.

Four neighbouring columns share one Philox call, which uses all four output words: a row's
draws 0..3 come from one call.

``u`` uses 23 bits of the word so that ``(word >> 9) + 0.5`` needs 24 significant bits and
is exact in fp32: u lies in [2**-24, 1 - 2**-24] (with 24 bits, +0.5 would round
2**24 - 0.5 up to 2**24, giving u = 1). So a token draw's target u * Z lies strictly inside
the cumulative mass and g is finite, in [-2.82, 16.64].

Integers are held in int64 tensors here (values in [0, 2**32)) so that the reference
runs on any device; products are split into 16-bit halves to stay below 2**63.
"""
from __future__ import annotations

import torch

TOKEN_DOMAIN = 0
POSITION_DOMAIN = 1

_M0, _M1 = 0xD2511F53, 0xCD9E8D57
_W0, _W1 = 0x9E3779B9, 0xBB67AE85
_MASK32 = 0xFFFFFFFF
ROUNDS = 10


def _mulhilo(a: int, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(hi, lo) 32-bit halves of the 64-bit product a * b, for a, b < 2**32."""
    p_lo = b * (a & 0xFFFF)
    p_hi = b * (a >> 16)
    mid = p_lo + ((p_hi & 0xFFFF) << 16)
    return (p_hi >> 16) + (mid >> 32), mid & _MASK32


def philox4x32(key: torch.Tensor, c0, c1, c2, c3) -> tuple[torch.Tensor, ...]:
    """Philox4x32-10 of broadcastable int64 tensors holding uint32 values.

    key: int64 tensor of unsigned 64-bit keys stored as two's complement.
    Returns the four uint32 output words as int64 tensors.
    """
    k0 = key & _MASK32
    k1 = (key >> 32) & _MASK32
    # Python ints are filled on the device: torch.as_tensor would copy them from the host, a
    # blocking copy (a sync) on a GPU.
    c0, c1, c2, c3 = (c if isinstance(c, torch.Tensor) else torch.full((), c, dtype=torch.int64, device=key.device)
                      for c in (c0, c1, c2, c3))
    shape = torch.broadcast_shapes(k0.shape, c0.shape, c1.shape, c2.shape, c3.shape)
    c0, c1, c2, c3 = (c.expand(shape) for c in (c0, c1, c2, c3))
    for r in range(ROUNDS):
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        if r + 1 < ROUNDS:
            k0 = (k0 + _W0) & _MASK32
            k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


def random_words(key: torch.Tensor, row: torch.Tensor, stream: torch.Tensor, domain: int,
                 offset: int, ncols: int) -> torch.Tensor:
    """uint32 words (in int64) for columns 0..ncols-1 of every (key, row, stream).

    key, row, stream: broadcastable int64 tensors of shape [...]; returns [..., ncols].
    One Philox call serves four neighbouring columns (word ``col & 3``).
    """
    quads = torch.arange((ncols + 3) // 4, device=key.device)
    words = philox4x32(key[..., None], quads, row[..., None], (stream | (domain << 24))[..., None], offset)
    return torch.stack(words, dim=-1).flatten(-2)[..., :ncols]


def uniform(words: torch.Tensor) -> torch.Tensor:
    """Uniform fp32 numbers in (0, 1) from uint32 words: ((word >> 9) + 0.5) * 2**-23, exact."""
    return ((words >> 9).to(torch.float32) + 0.5) * (2.0 ** -23)


def gumbel(words: torch.Tensor) -> torch.Tensor:
    """Standard Gumbel noise in fp32 from uint32 words: -log(-log(u))."""
    return -torch.log(-torch.log(uniform(words)))
