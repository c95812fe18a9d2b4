"""The Info-Gain sampler of SPEC §1 over Hugging Face masked diffusion LMs, batched.

One loop iteration is one decoding step for every unfinished sequence of the batch:

1. **schedule**  which block each sequence is in, how many positions it unmasks (``k``),
   and whether it looks ahead, bypasses (high confidence) or takes a plain top-k step;
   these few integers are the step's only host sync.
2. **propose + sample candidates**  tokens come from the current per-position statistics
   (argmax, or the Gumbel-max draws of stream ``c`` for candidate ``c``); ``N`` position sets
   per sequence come from one ``sample_candidates`` call.
3. **evaluate**  every candidate canvas ``x'_c = apply(x, a_c)`` (EOS fill included) of every
   sequence goes through ONE batched forward (chunked by ``max_forward_batch``) and ONE
   ``softmax_entropy`` call over the masked rows of all of them; ``U(x'_c)`` is the mean
   entropy of the rows still masked in ``x'_c``.
4. **transition**  commit ``argmax_c J`` (``J = -U(x'_c) - C(a_c|x)``, or ``-U`` for lookum)
   among unique candidates; the committed canvas's statistics become the current ones, so a
   step costs one forward. Plain and bypass steps evaluate their single committed canvas in
   the same forward, for the same reason.

The mask token's logit is set to -inf before any statistic (a committed mask would never
be decoded); EOS / PAD penalties are subtracted next. Between steps only per-position statistics are kept (``_Stats``), never logits; logits are
dropped as soon as K1 has read them.

Canvas layout: each sequence is ``prompt + max_new_tokens masks``, RIGHT padded to the
batch width, so every position has the index it has when the sequence is decoded alone and
padding is excluded by the attention mask.

Random streams (``igkernels.philox``): sequence ``i`` has the seed ``seed + i`` (int ``seed``)
or ``seed[i]`` (list). With ``s`` its seed and ``t`` the global step index:

* token proposals for step ``t`` at position ``l`` of the sequence: ``softmax_entropy`` with
  per-row key ``s * 2**24 + l`` (counter row 0), ``offset = t``, stream ``c`` = candidate
  ``c`` (``num_samples = N`` when ``temperature > 0``; at temperature 0 every candidate
  proposes the argmax). They are drawn while evaluating the canvases of step ``t - 1``
  (``t = 0``: the initial forward).
* position draws of step ``t``: ``sample_candidates`` with key ``s`` (counter row 0),
  ``offset = t``, stream ``c`` = candidate ``c`` (the ``random`` variant uses stream 1).

No draw depends on the batch layout, so ``generate([p_i], seed=seed + i)`` decodes ``p_i``
exactly as it is decoded inside a batch (up to float rounding of the model's forward).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import torch

from . import api
from .linear import linear_softmax_entropy
from .adapters import Adapter, make_adapter

VARIANTS = ("info_gain", "lookum", "confidence", "margin", "entropy", "random")
LOOKAHEAD_VARIANTS = ("info_gain", "lookum")

# Step kinds of a sequence.
DONE, PLAIN, LOOKAHEAD, BYPASS = 0, 1, 2, 3
KIND_NAMES = {DONE: "done", PLAIN: "plain", LOOKAHEAD: "lookahead", BYPASS: "bypass"}

_MAX_SEED = 2 ** 39          # seed * 2**24 + position must stay below 2**63
_NO_BLOCK = 2 ** 40


@dataclass
class GenerationOutput:
    """Result of ``InfoGainSampler.generate``.

    sequences          [B, T] int64: prompt + decoded tokens, right padded with the pad id
    texts              list[str] of the decoded new tokens (the whole sequence when
                       ``max_new_tokens == 0``); None without a tokenizer
    cumulative_entropy [B] float32: sum over steps of C(a_t|x_t), in nats
    num_forward        model forward calls (chunks counted one by one)
    lookahead_steps    [B] int64: steps each sequence decided by lookahead
    bypass_steps       [B] int64: steps each sequence took by the high-confidence bypass
    history            when requested: one dict per step (see ``generate``), else None
    prompt_lengths     list[int], tokens of each prompt
    lengths            list[int], prompt + new tokens of each sequence (its unpadded length)
    """
    sequences: torch.Tensor
    texts: list[str] | None
    cumulative_entropy: torch.Tensor
    num_forward: int
    lookahead_steps: torch.Tensor
    bypass_steps: torch.Tensor
    history: list[dict] | None
    prompt_lengths: list[int]
    lengths: list[int]


class _Stats(NamedTuple):
    """Per-position statistics of the current canvases, dense [B, T] (samples [B, T, S]);
    meaningful at masked positions only."""
    entropy: torch.Tensor
    max_prob: torch.Tensor
    second_prob: torch.Tensor
    argmax: torch.Tensor
    samples: torch.Tensor
    sample_prob: torch.Tensor


class _Rows(NamedTuple):
    """The masked rows of a batch of evaluated canvases, with their K1 statistics."""
    canvas: torch.Tensor     # [R] index into the evaluated canvases
    position: torch.Tensor   # [R] position in the canvas
    valid: torch.Tensor      # [R] False for filler rows (capacity beyond the masked count)
    stats: Any               # TokenStats [R]


class InfoGainSampler:
    """Info-Gain decoding (and its baselines) for a masked diffusion LM.

    model:     a Hugging Face MDM (or any callable returning logits, see ``adapters.base``)
    tokenizer: its tokenizer, needed for text prompts and ``texts``; may be None
    mask_id:   overrides the mask token id the adapter finds
    adapter:   None (detect from the config), a name ("masked_lm", "llada", "dream",
               "sdar"), an ``Adapter`` class, or an instance
    """

    def __init__(self, model: Any, tokenizer: Any = None, mask_id: int | None = None,
                 adapter: str | type[Adapter] | Adapter | None = None):
        if not callable(model):
            raise TypeError(f"model must be a callable torch module, got {type(model).__name__}")
        self.adapter = make_adapter(model, tokenizer, mask_id, adapter)
        self.model = model
        self.tokenizer = tokenizer
        self.mask_id = self.adapter.mask_id

    # ------------------------------------------------------------------ inputs
    def _encode(self, prompts, attention_mask, chat_template: bool) -> list[list[int]]:
        if isinstance(prompts, str):
            prompts = [prompts]
        if isinstance(prompts, torch.Tensor):
            if prompts.dtype not in (torch.int64, torch.int32) or prompts.dim() not in (1, 2):
                raise TypeError(f"prompts tensor must be an integer [B, L] tensor, got "
                                f"{prompts.dtype} of shape {tuple(prompts.shape)}")
            prompts = prompts.reshape(-1, prompts.shape[-1]).cpu()
            if attention_mask is None:
                return [row.tolist() for row in prompts]
            if not isinstance(attention_mask, torch.Tensor) or attention_mask.shape != prompts.shape:
                raise ValueError(f"attention_mask must be a tensor of the prompts' shape {tuple(prompts.shape)}")
            keep = attention_mask.reshape(prompts.shape).cpu().bool()
            return [row[m].tolist() for row, m in zip(prompts, keep)]
        if attention_mask is not None:
            raise ValueError("attention_mask is only for a prompts tensor [B, L]")
        if not isinstance(prompts, (list, tuple)):
            raise TypeError(f"prompts must be a list of str, a list of token-id lists or a LongTensor, "
                            f"got {type(prompts).__name__}")
        if len(prompts) == 0:
            raise ValueError("prompts: empty prompt list; pass at least one prompt")
        out = []
        for i, p in enumerate(prompts):
            if isinstance(p, str):
                if self.tokenizer is None:
                    raise TypeError("prompts: text prompts need a tokenizer; pass token ids or a tokenizer")
                if chat_template:
                    text = self.tokenizer.apply_chat_template(
                        [{"role": "user", "content": p}], add_generation_prompt=True, tokenize=False)
                    ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                else:
                    ids = self.tokenizer(p)["input_ids"]
                out.append(list(ids))
            elif isinstance(p, torch.Tensor) and p.dim() == 1 and not p.is_floating_point():
                out.append(p.tolist())
            elif isinstance(p, (list, tuple)) and all(isinstance(t, int) and not isinstance(t, bool) for t in p):
                out.append(list(p))
            else:
                raise TypeError(f"prompts[{i}] must be a str or a list of int token ids, got {type(p).__name__}")
        return out

    @staticmethod
    def _seeds(seed, B: int) -> list[int]:
        if isinstance(seed, (list, tuple)):
            if len(seed) != B:
                raise ValueError(f"seed: got {len(seed)} seeds for {B} prompts")
            seeds = list(seed)
        elif isinstance(seed, int) and not isinstance(seed, bool):
            seeds = [seed + i for i in range(B)]
        else:
            raise TypeError(f"seed must be an int or a list of ints, got {type(seed).__name__}")
        for s in seeds:
            if isinstance(s, bool) or not isinstance(s, int):
                raise TypeError(f"seed must hold ints, got {type(s).__name__}")
            if not 0 <= s < _MAX_SEED:
                raise ValueError(f"seed must be in [0, 2**39) for every prompt, got {s}")
        return seeds

    # ------------------------------------------------------------------ generate
    def generate(self, prompts, max_new_tokens: int = 128, steps: int = 128, block_length: int = 32,
                 variant: str = "info_gain", candidates: int = 8, position_temperature: float = 0.1,
                 threshold: float | None = None, temperature: float = 0.0, seed: int | Sequence[int] = 0,
                 eos_penalty: float = 0.0, pad_penalty: float = 0.0, chat_template: bool = False,
                 backend: str | None = None, return_history: bool = False, progress: bool = False,
                 attention_mask: torch.Tensor | None = None, max_forward_batch: int | None = None,
                 fuse_lm_head: bool = False
                 ) -> GenerationOutput:
        """Decode B prompts together.

        prompts:           list[str] | list[list[int]] | LongTensor [B, L] (with
                           ``attention_mask`` [B, L], left or right padded)
        max_new_tokens:    masks appended to each prompt (0: only the prompt's own masks)
        steps:             decoding steps per sequence, split evenly over its blocks
        block_length:      length of the generation blocks, decoded left to right (at
                           absolute multiples of it for block-diffusion adapters); a
                           prompt's own masks form one extra block decoded first
        variant:           "info_gain" | "lookum" | "confidence" | "margin" | "entropy" | "random"
        candidates:        N >= 1 candidate actions per lookahead step
        position_temperature: tau_pos of the candidate position draws
        threshold:         gamma of the high-confidence bypass, or None
        temperature:       token temperature tau (0: argmax)
        seed:              int (prompt i gets seed + i) or a list with one int per prompt
        eos_penalty, pad_penalty: subtracted from the EOS / PAD logits before anything else
        chat_template:     wrap text prompts in the tokenizer's chat template
        backend:           igkernels backend for the ops (a pure speed switch)
        return_history:    record every step (below)
        progress:          tqdm bar over steps
        max_forward_batch: most canvases per model call (None: all in one call)
        fuse_lm_head:      run the model without its LM head and apply the head only to masked
                           rows with ``linear_softmax_entropy``: the [M, T, V] logits never
                           exist (same decisions up to float rounding of the logits). Assumes
                           the model returns its head's output unchanged (no logit scaling)

        ``history[t]`` is a dict: ``step``; ``kind`` [B] ("lookahead" | "plain" | "bypass" |
        "done"); ``positions`` / ``tokens`` [B][k] committed; ``candidates`` [B], None
        except for lookahead sequences, where it is a dict with ``positions`` [N][k],
        ``unique`` [N], ``J`` [N], ``cost`` [N] (C(a_c|x)) and ``uncertainty`` [N] (U(x'_c)).
        """
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ValueError(f"variant must be one of {list(VARIANTS)}, got {variant!r}")
        G = api.check_int("max_new_tokens", max_new_tokens, 0)
        steps = api.check_int("steps", steps, 1)
        block_length = api.check_int("block_length", block_length, 1)
        N = api.check_int("candidates", candidates, 1)
        tau_pos = api.check_nonneg("position_temperature", position_temperature)
        temperature = api.check_nonneg("temperature", temperature)
        if threshold is not None:
            threshold = api.check_nonneg("threshold", threshold)
        eos_penalty = api.check_nonneg("eos_penalty", eos_penalty)
        pad_penalty = api.check_nonneg("pad_penalty", pad_penalty)
        if max_forward_batch is not None:
            max_forward_batch = api.check_int("max_forward_batch", max_forward_batch, 1)
        if backend is not None and not isinstance(backend, str):
            raise TypeError(f"backend must be a str or None, got {type(backend).__name__}")

        ids = self._encode(prompts, attention_mask, chat_template)
        B = len(ids)
        seeds = self._seeds(seed, B)
        ctx = self.adapter.max_length
        for i, p in enumerate(ids):
            if len(p) + G == 0:
                raise ValueError(f"prompts[{i}] is empty and max_new_tokens is 0: nothing to decode")
            if ctx is not None and len(p) + G > ctx:
                raise ValueError(f"prompts[{i}] has {len(p)} tokens; with max_new_tokens={G} the canvas of "
                                 f"{len(p) + G} positions exceeds the model's context of {ctx}")
        run = _Run(self.adapter, ids, seeds, G, steps, block_length, variant, N, tau_pos, threshold,
                   temperature, eos_penalty, pad_penalty, backend, return_history, max_forward_batch,
                   bool(fuse_lm_head))
        with torch.inference_mode():
            run.decode(progress)
        return run.output(self.tokenizer)


class _Run:
    """State of one ``generate`` call (kept out of the sampler so it stays reentrant)."""

    def __init__(self, adapter: Adapter, ids: list[list[int]], seeds: list[int], G: int, steps: int,
                 block_length: int, variant: str, N: int, tau_pos: float, threshold: float | None,
                 temperature: float, eos_penalty: float, pad_penalty: float, backend: str | None,
                 return_history: bool, max_forward_batch: int | None, fuse_lm_head: bool):
        self.adapter, self.variant, self.threshold = adapter, variant, threshold
        self.temperature, self.backend, self.max_forward_batch = temperature, backend, max_forward_batch
        self.return_history = return_history
        dev = self.device = adapter.device
        mask_id = self.mask_id = adapter.mask_id
        B = self.B = len(ids)
        self.prompt_lengths = [len(p) for p in ids]
        self.lengths = [len(p) + G for p in ids]
        T = self.T = max(self.lengths)
        self.G = G
        pad = adapter.pad_id if adapter.pad_id is not None else 0

        # Canvas, right padded; block id per position: 0 = the prompt's own masks,
        # 1.. = generation blocks, -1 = never decoded.
        # Block-diffusion models (adapter.aligned_blocks) decode blocks at absolute multiples
        # of block_length, the blocks their attention was trained on; the first one may be
        # partly prompt.
        x = torch.full((B, T), pad, dtype=torch.int64)
        blk = torch.full((B, T), -1, dtype=torch.int64)
        n_blocks = []
        for b, p in enumerate(ids):
            P = len(p)
            x[b, :P] = torch.tensor(p, dtype=torch.int64)
            x[b, P:P + G] = mask_id
            blk[b, :P][x[b, :P] == mask_id] = 0
            gen = torch.arange(P, P + G)
            blk[b, P:P + G] = 1 + (gen // block_length - P // block_length if adapter.aligned_blocks
                                   else (gen - P) // block_length)
            n_blocks.append(int(blk[b].max().clamp(min=0)))
        has_prompt_masks = (blk == 0).any(1)
        # steps split evenly over each sequence's blocks, the remainder to the first ones
        spb = torch.zeros(B, max(n_blocks) + 1, dtype=torch.int64)
        for b in range(B):
            present = ([0] if bool(has_prompt_masks[b]) else []) + list(range(1, n_blocks[b] + 1))
            if steps < len(present):
                raise ValueError(f"steps ({steps}) must be >= the number of blocks ({len(present)}: "
                                 f"max_new_tokens={G} / block_length={block_length}"
                                 + (" + 1 for the prompt's own masks" if present[:1] == [0] else "") + ")")
            for j, blk_id in enumerate(present):
                spb[b, blk_id] = steps // len(present) + (j < steps % len(present))
        self.steps = steps
        self.x, self.blk, self.spb = x.to(dev), blk.to(dev), spb.to(dev)
        pos = torch.arange(T)
        self.attn = (pos[None, :] < torch.tensor(self.lengths)[:, None]).to(dev)
        self.padded = min(self.lengths) != T
        self.gen_region = ((pos[None, :] >= torch.tensor(self.prompt_lengths)[:, None])
                           & (pos[None, :] < torch.tensor(self.lengths)[:, None])).to(dev)
        self.seeds = torch.tensor(seeds, dtype=torch.int64, device=dev)

        self.lookahead = variant in LOOKAHEAD_VARIANTS and N > 1 and tau_pos > 0
        self.Nc = N if self.lookahead else (2 if variant == "random" else 1)
        self.S = N if (temperature > 0 and self.lookahead) else (1 if temperature > 0 else 0)
        self.tau_pos = 1.0 if variant == "random" else tau_pos
        self.eos = torch.tensor(adapter.eos_ids, dtype=torch.int64, device=dev)
        pad_ids = [adapter.pad_id] if adapter.pad_id is not None else []
        self.penalties = [(token_ids, pen) for token_ids, pen in ((adapter.eos_ids, eos_penalty), (pad_ids, pad_penalty))
                          if pen > 0 and token_ids]
        self.head, self.head_bias = None, None
        if fuse_lm_head:
            # The mask ban and the penalties go into the head's bias: the logits never exist.
            self.head = adapter.lm_head()
            w = self.head.weight
            bias = getattr(self.head, "bias", None)
            self.head_bias = (bias.detach().clone() if isinstance(bias, torch.Tensor)
                              else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
            if mask_id < w.shape[0]:
                self.head_bias[mask_id] = float("-inf")
            for token_ids, pen in self.penalties:
                self.head_bias[token_ids] -= pen
        self.num_forward = 0
        self.cum_entropy = torch.zeros(B, dtype=torch.float32, device=dev)
        self.lookahead_steps = torch.zeros(B, dtype=torch.int64, device=dev)
        self.bypass_steps = torch.zeros(B, dtype=torch.int64, device=dev)
        self.history_raw: list[dict] = []

    # ------------------------------------------------------------------ evaluate
    def _row_stats(self, canvases: torch.Tensor, attn: torch.Tensor | None, rows: torch.Tensor,
                   keys: torch.Tensor, offset: int):
        """K1 statistics of logits rows ``rows`` of the canvases' forward: through the model's
        LM head, or with ``fuse_lm_head`` through the fused head on those rows only."""
        self.num_forward += 1
        args = dict(rows=rows, num_samples=self.S, temperature=self.temperature, seed=keys, offset=offset)
        if self.head is not None:
            hidden = self.adapter.forward_hidden(canvases, attn)
            return linear_softmax_entropy(hidden, self.head.weight, bias=self.head_bias, **args)
        logits = self.adapter.forward(canvases, attn)
        if self.mask_id < logits.shape[-1]:
            # A committed mask token would stay masked forever: never propose it.
            logits[..., self.mask_id] = float("-inf")
        for token_ids, pen in self.penalties:
            logits[..., token_ids] -= pen
        return api.softmax_entropy(logits, backend=self.backend, **args)

    def evaluate(self, canvases: torch.Tensor, seq: torch.Tensor, caps: list[int], offset: int) -> _Rows:
        """K1 statistics of every masked row of ``canvases`` [M, T] (of sequences ``seq`` [M]).

        ``caps[m]`` (host ints) bounds the masked count of canvas m; rows are laid out with
        that capacity so no host sync is needed to size them, and filler rows (valid False)
        re-read position 0 of their canvas. One forward and one K1 call per chunk.
        """
        M, T = canvases.shape
        dev = canvases.device
        chunk = self.max_forward_batch or max(M, 1)
        masked = (canvases == self.mask_id) & self.attn[seq]
        parts = []
        for lo in range(0, M, chunk):
            hi = min(M, lo + chunk)
            cap = caps[lo:hi]
            R = sum(cap)
            if R == 0:
                continue
            cap_t = torch.tensor(cap, dtype=torch.int64)
            start = (torch.cumsum(cap_t, 0) - cap_t).to(dev)
            m_chunk = masked[lo:hi]
            slot = torch.where(m_chunk, start[:, None] + m_chunk.cumsum(1) - 1, R)
            position = torch.zeros(R + 1, dtype=torch.int64, device=dev)
            position.scatter_(0, slot.reshape(-1), torch.arange(T, device=dev).repeat(hi - lo))
            valid = torch.zeros(R + 1, dtype=torch.bool, device=dev)
            valid.scatter_(0, slot.reshape(-1), m_chunk.reshape(-1))
            canvas = torch.repeat_interleave(torch.arange(hi - lo), cap_t, output_size=R).to(dev)
            position, valid = position[:R], valid[:R]
            attn = self.attn[seq[lo:hi]] if self.padded else None
            keys = self.seeds[seq[lo:hi]][canvas] * 2 ** 24 + position
            st = self._row_stats(canvases[lo:hi], attn, self.adapter.logit_rows(canvas, position, T), keys, offset)
            parts.append(_Rows(canvas + lo, position, valid, st))
        if not parts:
            return _Rows(*(torch.zeros(0, dtype=t, device=dev) for t in (torch.int64, torch.int64, torch.bool)),
                         None)
        if len(parts) == 1:
            return parts[0]
        return _Rows(torch.cat([p.canvas for p in parts]), torch.cat([p.position for p in parts]),
                     torch.cat([p.valid for p in parts]),
                     type(parts[0].stats)(*(torch.cat(f) for f in zip(*(p.stats for p in parts)))))

    def uncertainty(self, rows: _Rows, M: int) -> torch.Tensor:
        """U of each evaluated canvas [M]: mean entropy over its still-masked rows (0 if none)."""
        if rows.stats is None:
            return torch.zeros(M, dtype=torch.float32, device=self.device)
        w = rows.valid.float()
        total = torch.zeros(M, dtype=torch.float32, device=self.device).index_add_(0, rows.canvas, rows.stats.entropy * w)
        count = torch.zeros(M, dtype=torch.float32, device=self.device).index_add_(0, rows.canvas, w)
        return total / count.clamp(min=1)

    def adopt(self, stats: _Stats | None, rows: _Rows, seq: torch.Tensor, take: torch.Tensor) -> _Stats:
        """New current statistics: rows of canvases with ``take[canvas]`` scattered into [B, T]."""
        B, T, dev = self.B, self.T, self.device
        if stats is None:
            f = torch.zeros(B, T, dtype=torch.float32, device=dev)
            stats = _Stats(f, f.clone(), f.clone(), torch.zeros(B, T, dtype=torch.int64, device=dev),
                           torch.zeros(B, T, self.S, dtype=torch.int64, device=dev),
                           torch.zeros(B, T, self.S, dtype=torch.float32, device=dev))
        if rows.stats is None:
            return stats
        keep = rows.valid & take[rows.canvas]
        dest = torch.where(keep, seq[rows.canvas] * T + rows.position, B * T)
        st = rows.stats
        new = []
        for cur, val in zip(stats, (st.entropy, st.max_prob, st.second_prob, st.argmax, st.samples, st.sample_prob)):
            flat = torch.cat([cur.reshape(B * T, *cur.shape[2:]), cur.new_zeros(1, *cur.shape[2:])])
            flat.index_copy_(0, dest, val)
            new.append(flat[:B * T].reshape(cur.shape))
        return _Stats(*new)

    # ------------------------------------------------------------------ the loop
    def decode(self, progress: bool) -> None:
        B, T, dev, Nc = self.B, self.T, self.device, self.Nc
        masked = (self.x == self.mask_id) & self.attn
        caps = masked.sum(1).tolist()
        seq = torch.arange(B, device=dev)
        rows = self.evaluate(self.x, seq, caps, offset=0)
        stats = self.adopt(None, rows, seq, torch.ones(B, dtype=torch.bool, device=dev))
        del rows
        prev_blk = torch.full((B,), -1, dtype=torch.int64, device=dev)
        local = torch.zeros(B, dtype=torch.int64, device=dev)
        n0 = torch.zeros(B, dtype=torch.int64, device=dev)
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=self.steps, desc="igkernels", unit="step")
        step = 0
        arange_nc = torch.arange(Nc, device=dev)
        while True:
            # 1. schedule (the step's one host sync)
            masked = (self.x == self.mask_id) & self.attn
            cur = torch.where(masked & (self.blk >= 0), self.blk, _NO_BLOCK).min(1).values
            active = cur < _NO_BLOCK
            in_block = masked & (self.blk == cur[:, None])
            rem_blk, rem_tot = in_block.sum(1), masked.sum(1)
            new_block = cur != prev_blk
            local = torch.where(new_block, 0, local)
            n0 = torch.where(new_block, rem_blk, n0)
            prev_blk = cur
            S_blk = self.spb.gather(1, cur.clamp(max=self.spb.shape[1] - 1)[:, None]).squeeze(1).clamp(min=1)
            k = n0 // S_blk + (local < n0 % S_blk).long()
            k = torch.where(local >= S_blk - 1, rem_blk, torch.minimum(k, rem_blk)).clamp(min=1)
            valid = in_block
            bypass = torch.zeros_like(active)
            if self.threshold is not None:
                hi = in_block & (stats.max_prob >= self.threshold)
                n_hi = hi.sum(1)
                bypass = active & (n_hi > 0)
                k = torch.where(bypass, torch.minimum(k, n_hi), k)
                valid = torch.where(bypass[:, None], hi, in_block)
            look = active & ~bypass & (rem_blk > k) & bool(self.lookahead)
            kind = torch.where(~active, DONE, torch.where(bypass, BYPASS, torch.where(look, LOOKAHEAD, PLAIN)))
            kind_h, k_h, rem_h = torch.stack([kind, k, rem_tot]).tolist()
            if not any(kind_h):
                break

            # 2. propose + sample candidate position sets
            pos_all = self.sample_positions(stats, valid, bypass, kind_h, k_h, step)      # [B, Nc, kmax]
            kmax = pos_all.shape[-1]
            kind_t = torch.tensor(kind_h, dtype=torch.int64)
            pick = 1 if self.variant == "random" else 0
            stream = torch.where(kind[:, None] == LOOKAHEAD, arange_nc[None, :], 0)          # [B, Nc]
            safe = pos_all.clamp(min=0)
            tokens = stats.argmax.gather(1, safe.reshape(B, -1)).reshape(B, Nc, kmax)
            if self.S > 0:
                drawn = stats.samples.reshape(B, T * self.S).gather(
                    1, (safe * self.S + stream[:, :, None]).reshape(B, -1)).reshape(B, Nc, kmax)
                tokens = torch.where(bypass[:, None, None], tokens, drawn)
            grid = torch.cat([self.x, self.x.new_zeros(B, 1)], 1)[:, None, :].repeat(1, Nc, 1)
            grid.scatter_(2, torch.where(pos_all < 0, T, pos_all), tokens)
            grid = self.eos_fill(grid[:, :, :T])                                              # [B, Nc, T]

            # 3. evaluate the canvases that need a forward, all in one batch
            per_seq = torch.where(kind_t == LOOKAHEAD, Nc, (kind_t != DONE).long()
                                  * (torch.tensor(rem_h) > torch.tensor(k_h)).long())
            first = torch.where(kind_t == PLAIN, pick, 0)
            M = int(per_seq.sum())
            e_seq = torch.repeat_interleave(torch.arange(B), per_seq, output_size=M)
            e_c = torch.arange(M) - torch.repeat_interleave(torch.cumsum(per_seq, 0) - per_seq, per_seq,
                                                            output_size=M) + first[e_seq]
            e_caps = (torch.tensor(rem_h) - torch.tensor(k_h))[e_seq].tolist()
            e_seq, e_c = e_seq.to(dev), e_c.to(dev)
            rows = self.evaluate(grid[e_seq, e_c], e_seq, e_caps, offset=step + 1)
            U = torch.zeros(B, Nc, dtype=torch.float32, device=dev)
            U[e_seq, e_c] = self.uncertainty(rows, M)

            # 4. transition
            ent = stats.entropy.gather(1, safe.reshape(B, -1)).reshape(B, Nc, kmax)
            cost = (ent * (pos_all >= 0)).sum(-1)                                             # [B, Nc]
            J = -U - cost if self.variant == "info_gain" else -U
            J = J.masked_fill(~self.unique, float("-inf"))
            chosen = torch.where(kind == LOOKAHEAD, J.argmax(1), torch.where(bypass, 0, pick))
            bsel = torch.arange(B, device=dev)
            x_new = grid[bsel, chosen]
            self.x = torch.where(active[:, None], x_new, self.x)
            self.cum_entropy += torch.where(active, cost[bsel, chosen], 0.0)
            self.lookahead_steps += (kind == LOOKAHEAD).long()
            self.bypass_steps += (kind == BYPASS).long()
            stats = self.adopt(stats, rows, e_seq, chosen[e_seq] == e_c)
            del rows
            if self.return_history:
                self.history_raw.append(dict(step=step, kind=kind_h, pos=pos_all, tokens=tokens, chosen=chosen,
                                             unique=self.unique, J=J, cost=cost, U=U))
            local = local + active.long()
            step += 1
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()

    def sample_positions(self, stats: _Stats, valid: torch.Tensor, bypass: torch.Tensor, kind_h: list[int],
                         k_h: list[int], step: int) -> torch.Tensor:
        """K3 for every active sequence: positions [B, Nc, kmax] (-1 padded); sets ``self.unique``.

        One ``sample_candidates`` call per distinct k in the batch (usually one).
        """
        B, T, Nc, dev = self.B, self.T, self.Nc, self.device
        if self.variant in ("info_gain", "lookum", "confidence"):
            conf = stats.sample_prob.permute(0, 2, 1) if self.S > 0 else stats.max_prob[:, None, :]
        elif self.variant == "margin":
            conf = (stats.max_prob - stats.second_prob)[:, None, :]
        elif self.variant == "entropy":
            conf = -stats.entropy[:, None, :]
        else:
            conf = torch.zeros(B, 1, T, dtype=torch.float32, device=dev)
        conf = torch.where(bypass[:, None, None], stats.max_prob[:, None, :], conf).contiguous()
        kmax = max(k for k, kd in zip(k_h, kind_h) if kd != DONE)
        positions = torch.full((B, Nc, kmax), -1, dtype=torch.int64, device=dev)
        self.unique = torch.ones(B, Nc, dtype=torch.bool, device=dev)
        for kk in sorted({k for k, kd in zip(k_h, kind_h) if kd != DONE}):
            g = torch.tensor([b for b in range(B) if kind_h[b] != DONE and k_h[b] == kk], device=dev)
            cand = api.sample_candidates(conf[g], valid[g], k=kk, num_candidates=Nc,
                                         position_temperature=self.tau_pos, seed=self.seeds[g], offset=step,
                                         backend=self.backend)
            positions[g, :, :kk] = cand.positions
            self.unique[g] = cand.unique
        return positions

    def eos_fill(self, grid: torch.Tensor) -> torch.Tensor:
        """Masks after the first EOS of the generated region take that EOS token. grid [B, Nc, T]."""
        if self.eos.numel() == 0:
            return grid
        gen = self.gen_region[:, None, :]
        hit = torch.isin(grid, self.eos) & gen
        seen = hit.long().cumsum(-1)
        after = (seen - hit.long()) > 0
        first_tok = grid.gather(-1, hit.long().argmax(-1, keepdim=True))
        return torch.where(after & gen & (grid == self.mask_id), first_tok, grid)

    # ------------------------------------------------------------------ output
    def output(self, tokenizer: Any) -> GenerationOutput:
        seqs = self.x.cpu()
        texts = None
        if tokenizer is not None:
            texts = []
            for b in range(self.B):
                lo = self.prompt_lengths[b] if self.G > 0 else 0
                texts.append(tokenizer.decode(seqs[b, lo:self.lengths[b]].tolist(), skip_special_tokens=True))
        history = [self._history_entry(h) for h in self.history_raw] if self.return_history else None
        return GenerationOutput(sequences=seqs, texts=texts, cumulative_entropy=self.cum_entropy.cpu(),
                                num_forward=self.num_forward, lookahead_steps=self.lookahead_steps.cpu(),
                                bypass_steps=self.bypass_steps.cpu(), history=history,
                                prompt_lengths=self.prompt_lengths, lengths=self.lengths)

    def _history_entry(self, h: dict) -> dict:
        pos, tok, chosen = h["pos"].tolist(), h["tokens"].tolist(), h["chosen"].tolist()
        J, cost, U, uniq = h["J"].tolist(), h["cost"].tolist(), h["U"].tolist(), h["unique"].tolist()
        entry = {"step": h["step"], "kind": [KIND_NAMES[k] for k in h["kind"]], "positions": [], "tokens": [],
                 "candidates": []}
        for b, kind in enumerate(h["kind"]):
            c = chosen[b]
            keep = [j for j, p in enumerate(pos[b][c]) if p >= 0] if kind != DONE else []
            entry["positions"].append([pos[b][c][j] for j in keep])
            entry["tokens"].append([tok[b][c][j] for j in keep])
            if kind == LOOKAHEAD:
                entry["candidates"].append({"positions": [[p for p in row if p >= 0] for row in pos[b]],
                                            "unique": uniq[b], "J": J[b], "cost": cost[b], "uncertainty": U[b]})
            else:
                entry["candidates"].append(None)
        return entry
