"""The decoder: ``InfoGainSampler.generate`` and its ``DecodeConfig``.

One module per phase of a step (SPEC §1): ``schedule`` (StepPlan, the one host sync),
``propose`` (candidate positions and tokens), ``evaluate`` (one batched forward + one K1
call), ``transition`` (J, commit, adopt); ``decode`` is the loop over them, ``variants`` the
table of decoding rules, ``config`` every option.
"""
from .config import DecodeConfig
from .sampler import GenerationOutput, InfoGainSampler
from .variants import VARIANTS

__all__ = ["DecodeConfig", "GenerationOutput", "InfoGainSampler", "VARIANTS"]
