"""What a decode configuration means for every step: the variant's rules made concrete."""
from __future__ import annotations

from dataclasses import dataclass

from .config import DecodeConfig
from .variants import VARIANTS, Variant


@dataclass(frozen=True)
class Strategy:
    """variant: the variant's table entry; lookahead: steps may look ahead (the variant does, with
    N > 1 candidates and a position temperature > 0); num_candidates: candidate sets per step
    (N when looking ahead, else the variant's plain count); num_samples: token draws per masked
    row (N per lookahead step, so each candidate has its own; 1 at a token temperature > 0 with no
    lookahead; 0 at temperature 0: the argmax)."""

    variant: Variant
    lookahead: bool
    num_candidates: int
    num_samples: int
    position_temperature: float
    temperature: float
    backend: str | None

    @classmethod
    def of(cls, config: DecodeConfig) -> Strategy:
        variant = VARIANTS[config.variant]
        N = config.candidates
        lookahead = variant.lookahead and N > 1 and config.position_temperature > 0
        sampling = config.temperature > 0
        return cls(variant=variant, lookahead=lookahead,
                   num_candidates=N if lookahead else variant.plain_candidates,
                   num_samples=(N if lookahead else 1) if sampling else 0,
                   position_temperature=(variant.position_temperature if variant.position_temperature is not None
                                         else config.position_temperature),
                   temperature=config.temperature, backend=config.backend)
