"""Phase 3, evaluate: the canvases that need a forward, in one batched forward and one K1 call.

SPEC §1 step 3. A lookahead sequence sends its distinct candidate canvases (a duplicate is
never evaluated; with one distinct candidate left, that is the canvas the next step needs
anyway); a plain or bypass step sends its one committed canvas when masks remain after it, so
that the next step's statistics come from the same forward (a step costs one forward); an idle
step sends nothing. Every masked row the forward computes goes through ``softmax_entropy`` (or,
with ``fuse_lm_head``, through ``linear_softmax_entropy`` on the model's final hidden states),
which also gives the next step's token proposals. Rows are laid out with host-known
capacities, so no host sync sizes them.

Draws (token temperature > 0, lookahead). Only the committed canvas's draws are ever used (they
become the next step's proposals), so a lookahead step computes the statistics of every
candidate canvas without draws, keeps the forward's output until the choice
(``Evaluation.pending``), and ``draw_committed`` then draws on the committed canvas's rows alone
(with the fused head: the head again on those rows only): N draws per row instead of N per row
of every canvas. Of those rows only the next step's block can use draws: a canvas's masked rows
come in position order and every earlier block is complete, so they are the first
``left_in_block - k`` rows, or every row where this step's commit ends the block. Where a
step's canvases take several forward chunks (``max_forward_batch``), each chunk draws as it
goes instead, so that no more than one chunk's output is held.

KV cache (SPEC §2; ``DecodeConfig.cache``). A full forward at the start and at the end of every
block (of the committed canvas, which starts the next block) stores every layer's keys and
values; the steps inside a block run only their window (``Adapter.cache_window``: prefix, the
block and all after it; dual and block-causal models, the block) against those cached keys,
the candidates of a sequence packed into one row so that they share its cache. U averages the
masks of ``Adapter.uncertainty_range``.

Random streams (``igkernels.backends.philox``): the token draws of position ``l`` of a sequence
with seed ``s``, made while evaluating step ``t - 1``'s canvases, use the per-row key
``s * 2**24 + l`` (counter row 0), ``offset = t`` and stream ``c`` = candidate ``c``; no draw
depends on the batch layout.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np
import torch

from ..models.base import Adapter
from ..models.layers import KVCache
from ..ops import TokenStats, deferred, linear_softmax_entropy, softmax_entropy
from .canvas import Canvas
from .config import DecodeConfig
from .host import upload, upload_all
from .propose import Proposal
from .schedule import BYPASS, LOOKAHEAD, PLAIN, HostPlan
from .stats import RowStats
from .strategy import Strategy


class _Draws(NamedTuple):
    """What the deferred draws of one forward need: its output and, per row of its RowStats,
    the output row and the Philox key."""
    out: torch.Tensor
    rows: torch.Tensor         # [R]
    keys: torch.Tensor         # [R]


class _Pending(NamedTuple):
    """The canvases of one forward whose draws wait for the choice (host layout)."""
    idx: np.ndarray            # [m] indices into the step's evaluated canvases (whole sequences)
    caps: np.ndarray           # [m] rows laid out per canvas
    drawn: np.ndarray          # [m] the first rows of each canvas the next step can use (<= caps)
    first_row: int             # where the forward's rows start in Evaluation.rows
    draws: _Draws


class Evaluation(NamedTuple):
    seq: torch.Tensor          # [M] sequence of each evaluated canvas
    cand: torch.Tensor         # [M] its candidate index
    rows: RowStats             # the masked rows of the M canvases
    uncertainty: torch.Tensor  # [B, Nc] U(x'_c) of the evaluated canvases (0 elsewhere)
    canvases: np.ndarray       # [B] canvases each sequence sent through the model (host)
    host_seq: np.ndarray       # [M] seq on the host
    pending: tuple[_Pending, ...] = ()   # forwards whose draws wait for the choice (module doc)


class _Batch(NamedTuple):
    """Canvases to evaluate and, per canvas (host), the positions whose rows are computed
    [lo, hi), those U averages [u_lo, u_hi), and a bound on their masked count."""
    canvases: torch.Tensor     # [M, T]
    seq: np.ndarray            # [M]
    lo: np.ndarray
    hi: np.ndarray
    u_lo: np.ndarray
    u_hi: np.ndarray
    caps: np.ndarray

    def part(self, idx: np.ndarray) -> _Batch:
        return _Batch(self.canvases[upload(idx, self.canvases.device)], *(a[idx] for a in self[1:]))


class Evaluator:
    """Runs the model on canvases and reads their masked rows (counts the forwards)."""

    def __init__(self, adapter: Adapter, canvas: Canvas, config: DecodeConfig, strategy: Strategy):
        self.adapter, self.canvas, self.strategy = adapter, canvas, strategy
        self.max_batch = config.max_forward_batch
        self.mask_id = adapter.mask_id
        pad_ids = [adapter.pad_id] if adapter.pad_id is not None else []
        self.penalties = [(ids, pen) for ids, pen in ((adapter.eos_ids, config.eos_penalty),
                                                      (pad_ids, config.pad_penalty)) if pen > 0 and ids]
        self.head, self.head_bias = (self._fused_head() if config.fuse_lm_head else (None, None))
        self.mode = config.cache
        self.cache = (KVCache(canvas.x.shape[0], adapter.model.num_layers) if config.cache != "none" else None)
        self.lengths = np.asarray(canvas.lengths)
        self.defer_draws = strategy.lookahead and strategy.num_samples > 0
        self.num_forward = 0

    def _fused_head(self) -> tuple[torch.nn.Module, torch.Tensor]:
        """The model's LM head and its bias with the mask ban and penalties folded in, so the
        logits never exist."""
        head = self.adapter.lm_head()
        w = head.weight
        bias = getattr(head, "bias", None)
        bias = (bias.detach().clone() if isinstance(bias, torch.Tensor)
                else torch.zeros(w.shape[0], dtype=w.dtype, device=w.device))
        if self.mask_id < w.shape[0]:
            bias[self.mask_id] = float("-inf")
        for ids, pen in self.penalties:
            bias[ids] -= pen
        return head, bias

    # ---------------------------------------------------------------- one step
    def initial(self) -> RowStats:
        """The first forward: every canvas whole (and, with a cache, stored). Its draws, like a
        step's, cover only the masks the first step can commit: its block's (module doc)."""
        B, T = self.canvas.x.shape
        everywhere = np.zeros(B, dtype=np.int64), self.lengths
        masks = self.canvas.masks
        batch = _Batch(self.canvas.x, np.arange(B), *everywhere, *everywhere, masks)
        defer = self.strategy.num_samples > 0 and (self.max_batch is None or self.max_batch >= B)
        rows, draws = self.full(batch, offset=0, defer=defer)
        if draws is None:
            return rows
        blocks = self.canvas.block_masks
        first_block = blocks[np.arange(B), (blocks > 0).argmax(1)]
        pending = _Pending(np.arange(B), masks, np.minimum(masks, first_block), 0, draws)
        every = torch.ones(B, dtype=torch.bool, device=self.canvas.x.device)
        return rows._replace(stats=self._draw(rows, (pending,), every, np.arange(B), offset=0))

    def step(self, host: HostPlan, proposal: Proposal, step: int) -> Evaluation:
        """Evaluate the canvases of this step that need a forward (module doc)."""
        seq, cand = self._chosen(host)
        dev = proposal.canvases.device
        seq_t, cand_t = upload_all([seq, cand], dev)
        batch = self._batch(proposal.canvases[seq_t, cand_t], seq, host)
        defer = self.defer_draws and (self.max_batch is None or self.max_batch >= len(seq))
        if self.cache is None:
            runs = [(np.arange(len(seq)), batch, self.full)]
        else:
            # A commit that empties its block starts the next block: that canvas is run whole and
            # refreshes the cache. (An EOS can empty the block only by filling every later mask
            # too, which ends the sequence.)
            refresh = (host.left_in_block == host.ks)[seq]
            whole = batch._replace(lo=np.zeros_like(batch.lo), hi=self.lengths[seq], caps=(host.left - host.ks)[seq])
            runs = [(np.flatnonzero(refresh), whole, self.full), (np.flatnonzero(~refresh), batch, self.windowed)]
        # Rows whose draws the next step can use (module doc): the masks left in the block.
        left = (host.left_in_block - host.ks)[seq]
        usable = np.where(left > 0, left, np.iinfo(np.int64).max)
        parts, pending, first_row = [], [], 0
        for idx, b, run in runs:
            if not idx.size:
                continue
            part = b if idx.size == len(seq) else b.part(idx)
            rows, draws = run(part, offset=step + 1, defer=defer)
            parts.append(_renumber(rows, idx) if part is not b else rows)
            if draws is not None:
                pending.append(_Pending(idx, part.caps, np.minimum(part.caps, usable[idx]), first_row, draws))
            first_row += rows.canvas.numel()
        rows = RowStats.cat(parts, dev)
        U = torch.zeros(len(host.kinds), self.strategy.num_candidates, dtype=torch.float32, device=dev)
        U[seq_t, cand_t] = uncertainty(rows, len(seq), batch)
        return Evaluation(seq_t, cand_t, rows, U, np.bincount(seq, minlength=len(host.kinds)), seq, tuple(pending))

    def draw_committed(self, evaluation: Evaluation, chosen: torch.Tensor, step: int) -> Evaluation:
        """``evaluation`` with the token draws of the committed canvases' rows of the next step's
        block (module doc): ``chosen`` [B] the committed candidates. Other rows keep no draws
        (never read).

        Sizes stay host-known: every canvas of a sequence has the same row capacity, so the
        committed canvas of each sequence gives that many rows, found on the device."""
        if evaluation.rows.stats is None or not evaluation.pending:
            return evaluation
        take = chosen[evaluation.seq] == evaluation.cand
        stats = self._draw(evaluation.rows, evaluation.pending, take, evaluation.host_seq, offset=step + 1)
        return evaluation._replace(rows=evaluation.rows._replace(stats=stats), pending=())

    def _draw(self, rows: RowStats, pending: tuple[_Pending, ...], take: torch.Tensor, host_seq: np.ndarray,
              offset: int) -> TokenStats:
        """``rows.stats`` with the draws of the ``drawn`` first rows of each canvas with
        ``take`` [M] (one a sequence; canvas m of sequence ``host_seq[m]``); other rows none."""
        st = rows.stats
        N = self.strategy.num_samples
        R = st.entropy.shape[0]
        dev = st.entropy.device
        samples, sample_prob = st.argmax.new_zeros(R, N), st.entropy.new_zeros(R, N)
        for p in pending:
            seqs = host_seq[p.idx]
            groups, first, group = np.unique(seqs, return_index=True, return_inverse=True)
            drawn = p.drawn[first]
            within = np.arange(int(drawn.sum())) - np.repeat(np.cumsum(drawn) - drawn, drawn)
            starts, idx, group_t, group_of, within = upload_all(
                [p.first_row + np.cumsum(p.caps) - p.caps, p.idx, group, np.repeat(np.arange(len(groups)), drawn),
                 within], dev)
            committed = torch.where(take[idx], starts, 0)
            start = torch.zeros(len(groups), dtype=torch.int64, device=dev).index_add_(0, group_t, committed)
            sel = start[group_of] + within
            local = sel - p.first_row
            out_rows, canvas = p.draws.rows[local], rows.canvas[sel]
            with deferred.rows_described(_describer(out_rows, canvas, rows.position[sel], host_seq)):
                new = self._k1(p.draws.out, out_rows, p.draws.keys[local], offset, N)
            samples[sel], sample_prob[sel] = new.samples, new.sample_prob
        return st._replace(samples=samples, sample_prob=sample_prob)

    def _chosen(self, host: HostPlan) -> tuple[np.ndarray, np.ndarray]:
        """(sequence, candidate) of every canvas to evaluate, sequence by sequence."""
        seq, cand = [], []
        for b, kind in enumerate(host.kinds.tolist()):
            if kind == LOOKAHEAD:
                chosen = np.flatnonzero(host.unique[b]).tolist()
            elif kind in (PLAIN, BYPASS) and host.left[b] > host.ks[b]:
                chosen = [self.strategy.variant.plain_pick if kind == PLAIN else 0]
            else:
                continue
            seq += [b] * len(chosen)
            cand += chosen
        return np.asarray(seq, dtype=np.int64), np.asarray(cand, dtype=np.int64)

    def _batch(self, canvases: torch.Tensor, seq: np.ndarray, host: HostPlan) -> _Batch:
        """The computed and averaged positions of each canvas, from its sequence's current block."""
        a, n = self.adapter, len(seq)
        lo, hi, u_lo, u_hi = (np.zeros(n, dtype=np.int64) for _ in range(4))
        for i, b in enumerate(seq.tolist()):
            blk = int(host.block[b])
            block = int(self.canvas.block_start[b, blk]), int(self.canvas.block_end[b, blk])
            length = int(self.lengths[b])
            lo[i], hi[i] = a.cache_window(self.mode, block, length) if self.cache is not None else (0, length)
            u_lo[i], u_hi[i] = a.uncertainty_range(self.mode, block, length)
        caps = np.minimum((host.left - host.ks)[seq], hi - lo)
        return _Batch(canvases, seq, lo, hi, u_lo, u_hi, caps)

    # ---------------------------------------------------------------- forwards
    def full(self, batch: _Batch, offset: int, defer: bool) -> tuple[RowStats, _Draws | None]:
        """Whole canvases through the model (their keys stored when there is a cache)."""
        T = batch.canvases.shape[1]
        shift = self.adapter.shift

        def forward(lo_, hi_, store):
            part = batch.canvases[lo_:hi_]
            attn = self.canvas.attn[store] if self.canvas.padded else None
            if self.cache is None:
                out = (self.adapter.forward_hidden if self.head is not None else self.adapter.forward)(part, attn)
            else:
                hidden = self.adapter.model.hidden_states(part, attn, self.cache, store)
                out = hidden if self.head is not None else self.adapter.model.get_output_embeddings()(hidden)
            return out, lambda canvas, position: canvas * T + (position - shift).clamp(min=0)
        return self._rows(batch, offset, forward, defer)

    def windowed(self, batch: _Batch, offset: int, defer: bool) -> tuple[RowStats, _Draws | None]:
        """Each canvas's window only, against its sequence's cached keys (module doc)."""
        shift = self.adapter.shift

        def forward(lo_, hi_, _seq):   # the window's cache rows come from its packing
            w = _Window.pack(batch.part(np.arange(lo_, hi_)), shift, self.adapter.sees_cached_suffix(self.mode),
                             self.canvas, self.adapter.pad_id or 0)
            hidden = self.adapter.model.window_states(w.ids, w.positions, w.mask, self.cache, w.rows)
            out = hidden if self.head is not None else self.adapter.model.get_output_embeddings()(hidden)
            return out, lambda canvas, position: w.row(canvas, position, shift)
        return self._rows(batch, offset, forward, defer)

    def _rows(self, batch: _Batch, offset: int, forward: Callable, defer: bool) -> tuple[RowStats, _Draws | None]:
        """K1 statistics of the masked rows in [lo, hi) of every canvas of ``batch``, and with
        ``defer`` (one chunk) no draws but what drawing them later needs.

        ``caps`` bounds each canvas's masked count; rows are laid out with that capacity and
        filler rows (valid False) re-read the canvas's first computed row. One forward and one
        K1 call per chunk of ``max_forward_batch`` canvases: ``forward(lo, hi, seq)`` runs canvases
        [lo, hi) of the batch, ``seq`` their sequences on the device, and returns its output and
        ``row_of(canvas, position)``, the output rows of those canvases (numbered from lo).
        """
        M, T = batch.canvases.shape
        dev = batch.canvases.device
        chunk = self.max_batch or max(M, 1)
        assert not defer or chunk >= M, "deferred draws need the batch in one forward"
        draws = None
        pos = torch.arange(T, device=dev)
        lo_t, hi_t = upload_all([batch.lo, batch.hi], dev)
        inside = (pos >= lo_t[:, None]) & (pos < hi_t[:, None])
        masked = (batch.canvases == self.mask_id) & inside
        parts = []
        for lo in range(0, M, chunk):
            hi = min(M, lo + chunk)
            cap = batch.caps[lo:hi]
            R = int(cap.sum())
            if R == 0:
                continue
            start, position, canvas, chunk_seq = upload_all(
                [np.cumsum(cap) - cap, np.repeat(batch.lo[lo:hi], cap), np.repeat(np.arange(hi - lo), cap),
                 batch.seq[lo:hi]], dev)
            m = masked[lo:hi]
            slot = torch.where(m, start[:, None] + m.cumsum(1) - 1, R)
            position = torch.cat([position, position.new_zeros(1)]).scatter(0, slot.reshape(-1), pos.repeat(hi - lo))
            valid = torch.zeros(R + 1, dtype=torch.bool, device=dev).scatter(0, slot.reshape(-1), m.reshape(-1))
            position, valid = position[:R], valid[:R]
            out, row_of = forward(lo, hi, chunk_seq)
            self.num_forward += 1
            self._adjust(out)
            keys = self.canvas.seeds[chunk_seq][canvas] * 2 ** 24 + position
            rows = row_of(canvas, position)
            with deferred.rows_described(_describer(rows, canvas + lo, position, batch.seq)):
                stats = self._k1(out, rows, keys, offset, 0 if defer else self.strategy.num_samples)
            parts.append(RowStats(canvas + lo, position, valid, stats))
            if defer:
                draws = _Draws(out, rows, keys)
        return RowStats.cat(parts, dev), draws

    def _adjust(self, out: torch.Tensor) -> None:
        """The mask ban and the penalties, in place on a forward's logits (the fused head has
        them in its bias)."""
        if self.head is not None:
            return
        if self.mask_id < out.shape[-1]:
            # A committed mask token would stay masked forever: never propose it.
            out[..., self.mask_id] = float("-inf")
        for ids, pen in self.penalties:
            out[..., ids] -= pen

    def _k1(self, out: torch.Tensor, rows: torch.Tensor, keys: torch.Tensor, offset: int, num_samples: int
            ) -> TokenStats:
        """K1 statistics (and ``num_samples`` draws) of rows ``rows`` of a forward's output
        [.., L, V] logits, or with ``fuse_lm_head`` [.., L, D] hidden states through the fused
        head on those rows only."""
        s = self.strategy
        args = dict(rows=rows, num_samples=num_samples, temperature=s.temperature, seed=keys, offset=offset,
                    backend=s.backend)
        if self.head is not None:
            return linear_softmax_entropy(out, self.head.weight, bias=self.head_bias, **args)
        return softmax_entropy(out, **args)


class _Window(NamedTuple):
    """The windows of a batch of canvases packed by sequence: the G sequences' candidates side
    by side in one row each, every candidate in a slot of W positions (shorter windows and
    missing candidates are padding that attends only to itself). A query sees its sequence's
    cached keys before the window (and after it, with ``suffix``) and its own slot's keys."""
    ids: torch.Tensor        # [G, C * W] tokens
    positions: torch.Tensor  # [G, C * W] their positions in the canvas
    mask: torch.Tensor       # [G, 1, C * W, T + C * W]: cached keys outside the window, own slot's keys
    rows: torch.Tensor       # [G] the sequences (cache rows)
    group: torch.Tensor      # [M] group of each canvas
    slot: torch.Tensor       # [M] its slot
    start: torch.Tensor      # [M] the first position of its window (queries start there)
    width: int               # W
    length: int              # C * W

    @classmethod
    def pack(cls, batch: _Batch, shift: int, suffix: bool, canvas: Canvas, pad: int) -> _Window:
        seq = batch.seq
        dev = batch.canvases.device
        T = batch.canvases.shape[1]
        groups, group = np.unique(seq, return_inverse=True)
        first = np.searchsorted(seq, groups)
        slot = np.arange(len(seq)) - first[group]
        start = np.maximum(batch.lo - shift, 0)        # a shifted model reads position p from row p - shift
        width = int((batch.hi - start).max())
        C = int(slot.max()) + 1
        G, L = len(groups), C * width
        i = np.arange(width)
        # host layout of the packed rows: which canvas and position each entry comes from
        src = np.full((G, C, width), -1, dtype=np.int64)
        src[group, slot] = np.where(i < (batch.hi - start)[:, None], start[:, None] + i, -1)
        canvas_of = np.zeros((G, C), dtype=np.int64)
        canvas_of[group, slot] = np.arange(len(seq))
        src_t, which, lo, hi, lengths, rows, group_t, slot_t, start_t = upload_all(
            [src.reshape(G, L), np.repeat(canvas_of, width, axis=1), start[first], batch.hi[first],
             np.asarray(canvas.lengths)[groups], groups, group, slot, start], dev)
        live, pos = src_t >= 0, src_t.clamp(min=0)
        ids = torch.where(live, batch.canvases[which, pos], pad)
        # keys: a query sees the cached positions outside its sequence's window, and its own slot
        t = torch.arange(T, device=dev)
        cached = (t < lo[:, None]) | ((t >= hi[:, None]) & (t < lengths[:, None]) if suffix else False)
        slots = torch.arange(L, device=dev) // width
        own = (slots[:, None] == slots[None, :]) & live[:, None, :]
        own = own | torch.eye(L, dtype=torch.bool, device=dev)
        mask = torch.cat([cached[:, None, None, :].expand(G, 1, L, T), own[:, None]], dim=-1)
        return cls(ids, pos, mask, rows, group_t, slot_t, start_t, width, L)

    def row(self, canvas: torch.Tensor, position: torch.Tensor, shift: int) -> torch.Tensor:
        """Flat row index into the packed output [G * L, ...] predicting ``position`` of ``canvas``."""
        offset = (position - shift).clamp(min=0) - self.start[canvas]
        return self.group[canvas] * self.length + self.slot[canvas] * self.width + offset


def _describer(rows: torch.Tensor, canvas: torch.Tensor, position: torch.Tensor, seq: np.ndarray):
    """What a logits row is to the caller, for a BadRowError: its sequence and position (the
    first computed row that reads it; run only when such an error is raised)."""
    def describe(row: int) -> str:
        k = int((rows == row).nonzero()[0, 0])
        return f"sequence {int(seq[int(canvas[k])])}, position {int(position[k])}"
    return describe


def _renumber(rows: RowStats, idx: np.ndarray) -> RowStats:
    """Rows of a sub-batch, with canvas indices into the whole batch."""
    if rows.stats is None:
        return rows
    return rows._replace(canvas=upload(idx, rows.canvas.device)[rows.canvas])


def uncertainty(rows: RowStats, M: int, batch: _Batch) -> torch.Tensor:
    """U of each evaluated canvas [M]: the mean entropy over its masked rows in [u_lo, u_hi)
    (0 if none).

    This is K2 fused by hand: the K1 pass that gives the next step's statistics already returns
    each masked row's entropy, so U is their per-canvas mean; ``state_uncertainty`` would read
    the logits a second time (and needs them as one [M, T, V] tensor, which the fused head never
    forms).
    """
    dev = rows.canvas.device
    if rows.stats is None:
        return torch.zeros(M, dtype=torch.float32, device=dev)
    u_lo, u_hi = (b[rows.canvas] for b in upload_all([batch.u_lo, batch.u_hi], dev))
    w = (rows.valid & (rows.position >= u_lo) & (rows.position < u_hi)).float()
    total = torch.zeros(M, dtype=torch.float32, device=dev).index_add_(0, rows.canvas, rows.stats.entropy * w)
    count = torch.zeros(M, dtype=torch.float32, device=dev).index_add_(0, rows.canvas, w)
    return total / count.clamp(min=1)
