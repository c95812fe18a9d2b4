"""K3 ``sample_candidates``: N top-k candidate position sets per sequence in one launch.

The public function checks its arguments and calls the registered op
``torch.ops.igkernels.sample_candidates`` (see ``softmax_entropy.py`` for the pattern).
"""
from __future__ import annotations

from typing import Optional

import torch

from ..backends import registry
from . import _checks, _eager, deferred
from .types import Candidates

_SCHEMA = ("(Tensor confidence, Tensor valid, int k, Tensor? seq_k, int num_candidates, "
           "float position_temperature, Tensor? seeds, int seed, int offset, str? backend) -> (Tensor, Tensor)")


def sample_candidates(confidence: torch.Tensor, valid: torch.Tensor, *, k: int, num_candidates: int,
                      position_temperature: float, seed: int | torch.Tensor = 0, offset: int = 0,
                      seq_k: torch.Tensor | None = None, backend: str | None = None) -> Candidates:
    """K3: ``num_candidates`` top-k position sets per sequence in one launch.

    confidence: [B, T] float32, or [B, N, T] with one confidence row per candidate.
    valid:      [B, T] bool; invalid positions are never chosen.
    1 <= k <= max(T, 1), 1 <= num_candidates = N <= 1024, position_temperature 0 or in [1e-30, 1e30].
    seed:       int, or int64 tensor [B] with one seed per sequence.
    seq_k:      optional int64 [B] in [0, k]: sequence b takes its top-seq_k[b] set (the first
                seq_k[b] positions of the order below), -1 padded to k; ``unique`` compares
                those sets. A sampler whose k varies per sequence on the device asks for them in
                one call with no host sync.
    Candidate 0 is the noiseless top-k of its confidence; candidate c >= 1 takes the top-k of
    confidence / position_temperature + Gumbel noise (stream c). The order is valid positions
    first (a valid position is chosen even at -inf confidence), then score descending, then the
    lower position; -1 only where fewer than k positions are valid. Duplicates are found by
    sorting the rows: O(N log N) per sequence.
    Returns Candidates(positions [B, N, k] ascending with -1 padding, unique [B, N]).
    Raises ValueError if ``confidence`` holds NaN or ``seq_k`` leaves [0, k] (when: as
    ``softmax_entropy``'s bad rows).
    """
    N = _checks.check_int("num_candidates", num_candidates, 1, _checks.MAX_CANDIDATES + 1)
    tau = _checks.check_temperature("position_temperature", position_temperature)
    offset = _checks.check_int("offset", offset, 0, _checks.U32)
    _checks.check_tensor("confidence", confidence, dtypes=(torch.float32,), dim=(2, 3))
    _checks.check_tensor("valid", valid, dtypes=(torch.bool,), dim=2)
    _checks.same_device("valid", valid, confidence, "confidence")
    B, T = valid.shape
    k = _checks.check_int("k", k, 1, max(T, 1) + 1)     # more than T positions would be padding only
    if confidence.dim() == 2:
        confidence = confidence[:, None, :]
    if confidence.shape[0] != B or confidence.shape[2] != T or confidence.shape[1] not in (1, N):
        raise ValueError(f"confidence must have shape [B, T] or [B, num_candidates, T] matching valid "
                         f"{tuple(valid.shape)}, got {tuple(confidence.shape)}")
    seeds, key = _checks.check_seed(seed, (B,), None, valid.device)
    if seq_k is not None:
        _checks.check_tensor("seq_k", seq_k, dtypes=(torch.int64,), dim=1)
        _checks.same_device("seq_k", seq_k, valid, "valid")
        if seq_k.shape[0] != B:
            raise ValueError(f"seq_k must have shape [{B}] (valid's B), got {tuple(seq_k.shape)}")
    positions, unique = _eager.call(torch.ops.igkernels.sample_candidates, _impl, confidence, valid, k, seq_k, N,
                                    tau, seeds, key, offset, backend)
    return Candidates(positions, unique)


def _impl(confidence: torch.Tensor, valid: torch.Tensor, k: int, seq_k: Optional[torch.Tensor], num_candidates: int,
          position_temperature: float, seeds: Optional[torch.Tensor], seed: int, offset: int, backend: Optional[str]
          ) -> tuple[torch.Tensor, torch.Tensor]:
    B, T = valid.shape
    if B == 0:
        return _fake(confidence, valid, k, seq_k, num_candidates, position_temperature, seeds, seed, offset, backend)
    nan = torch.isnan(confidence).flatten(1).any(1)
    deferred.report(deferred.first_error(nan), lambda b: ValueError(f"confidence holds NaN (sequence {b})"))
    if seq_k is not None:
        # The message reads the caller's values: on a device it runs after seq_k is rebound to the clamped copy.
        given = seq_k
        seq_k = _checks.in_range(seq_k, 0, k + 1, lambda b: ValueError(
            f"seq_k must lie in [0, k = {k}]; got seq_k[{b}] = {int(given[b])}"))
    index = torch.arange(B, device=valid.device)
    keys, ctr = _checks.philox_keys(seeds, seed, index)
    _, impl = registry.resolve("sample_candidates", backend, valid.device.type)
    positions, unique = impl(confidence.expand(B, num_candidates, T), valid, k, seq_k, num_candidates,
                             position_temperature, keys, ctr, offset)
    return positions, unique


_op = torch.library.custom_op("igkernels::sample_candidates", _impl, mutates_args=(), schema=_SCHEMA)


@_op.register_fake
def _fake(confidence, valid, k, seq_k, num_candidates, position_temperature, seeds, seed, offset, backend):
    B = valid.shape[0]
    return (valid.new_empty((B, num_candidates, k), dtype=torch.int64),
            valid.new_empty((B, num_candidates), dtype=torch.bool))
