"""Philox4x32-10, its uniforms and the Gumbel transform as Triton device functions.

Bit for bit the layout of ``igkernels/backends/philox.py``:

    key     = (seed & 0xFFFFFFFF, seed >> 32)
    counter = (col >> 2, row, stream | domain << 24, offset)
    word    = philox4x32_10(key, counter)[col & 3]
    u       = ((word >> 9) + 0.5) * 2**-23          exact in fp32, in [2**-24, 1 - 2**-24]
    gumbel  = -log(-log(u))                      in fp32

Token draws take one uniform per draw (col = the draw index s, stream 0, TOKEN_DOMAIN:
``token_uniform``); position draws (K3) one Gumbel number per position (``gumbel_at``).

All counter and key words are uint32 tensors, so products wrap modulo 2**32 and
``tl.umulhi`` gives the high half of each 32x32 -> 64-bit product.
"""
from __future__ import annotations

import triton
import triton.language as tl

TOKEN_DOMAIN = 0
POSITION_DOMAIN = 1
_TOKEN_STREAM_WORD = tl.constexpr(TOKEN_DOMAIN << 24)   # stream 0 | TOKEN_DOMAIN << 24


@triton.jit
def split_key(key):
    """(k0, k1) uint32 halves of an int64 key holding unsigned 64-bit bits."""
    k0 = (key & 0xFFFFFFFF).to(tl.uint32)
    k1 = ((key >> 32) & 0xFFFFFFFF).to(tl.uint32)
    return k0, k1


@triton.jit
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """The four output words of Philox4x32-10; c0 (uint32) sets the shape.

    c1, c2, c3 become uint32 here, the one place: a launcher's Python int >= 2**31 arrives as
    int64 and would otherwise turn the whole state int64.
    """
    zero = tl.zeros_like(c0)
    c1 = tl.cast(c1, tl.uint32) + zero
    c2 = tl.cast(c2, tl.uint32) + zero
    c3 = tl.cast(c3, tl.uint32) + zero
    for r in tl.static_range(10):
        hi0 = tl.umulhi(c0, 0xD2511F53)
        lo0 = c0 * 0xD2511F53
        hi1 = tl.umulhi(c2, 0xCD9E8D57)
        lo1 = c2 * 0xCD9E8D57
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = k0 + 0x9E3779B9
        k1 = k1 + 0xBB67AE85
    return c0, c1, c2, c3


@triton.jit
def uniform_from_words(w):
    """u = ((w >> 9) + 0.5) * 2**-23: exact in fp32, in [2**-24, 1 - 2**-24] (never 0 or 1)."""
    return ((w >> 9).to(tl.float32) + 0.5) * 1.1920928955078125e-07


@triton.jit
def gumbel_from_words(w):
    """-log(-log(u)) of the uniform of ``uniform_from_words``: finite, in [-2.82, 16.64]."""
    return -tl.log(-tl.log(uniform_from_words(w)))


@triton.jit
def word_at(col, k0, k1, row, stream_word, offset):
    """The uint32 word of arbitrary int32 columns ``col`` (any shape, a scalar too; rows and
    streams broadcast): word ``col & 3`` of the Philox call of counter ``col >> 2``."""
    q = tl.cast(col >> 2, tl.uint32)   # a loop index may be a Python int (interpreter)
    w0, w1, w2, w3 = philox4x32_10(q, row, stream_word, offset, k0, k1)
    j = col & 3
    return tl.where(j == 0, w0, tl.where(j == 1, w1, tl.where(j == 2, w2, w3)))


@triton.jit
def gumbel_at(col, k0, k1, row, stream_word, offset):
    """Gumbel noise at arbitrary int32 columns ``col`` (any shape; rows and streams broadcast)."""
    return gumbel_from_words(word_at(col, k0, k1, row, stream_word, offset))


@triton.jit
def token_uniform(s, k0, k1, row, offset):
    """The uniform u_s of token draw ``s`` (int32, any shape) of one row: column s of stream 0
    in TOKEN_DOMAIN, so draws 4q .. 4q + 3 share the Philox call of counter q."""
    return uniform_from_words(word_at(s, k0, k1, row, _TOKEN_STREAM_WORD, offset))
