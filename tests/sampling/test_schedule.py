"""Phase 1 alone, without a model: the block schedule, step sizes, lookahead and threshold decisions."""
import pytest
import torch

from igkernels.sampling.canvas import Canvas
from igkernels.sampling.config import DecodeConfig
from igkernels.sampling.schedule import BYPASS, DONE, IDLE, LOOKAHEAD, PLAIN, Scheduler, read_back
from igkernels.sampling.stats import PositionStats

MASK, PAD = 4, 0


def run_schedule(prompts, lookahead=True, confident=(), aligned=False, **config):
    """Plan steps until done, committing the first k valid positions each step; returns the
    per-step (kinds, ks, committed positions) of every sequence, and the canvas."""
    cfg = DecodeConfig(**{"block_length": 32, **config})
    canvas = Canvas.build(prompts, list(range(len(prompts))), cfg, MASK, PAD, aligned, torch.device("cpu"))
    sched = Scheduler(canvas, MASK, cfg, lookahead)
    x = canvas.x.clone()
    B, T = x.shape
    stats = PositionStats.zeros(B, T, 0, x.device)
    for b, t in confident:
        stats.max_prob[b, t] = 1.0
    steps = []
    while True:
        plan = sched.plan(x, stats)
        host = read_back(plan, torch.ones(B, 1, dtype=torch.bool))
        if host.done:
            break
        committed = []
        for b in range(B):
            k = int(host.ks[b]) if host.kinds[b] != DONE else 0
            pos = plan.valid[b].nonzero().flatten()[:k].tolist()
            x[b, pos] = 7
            committed.append(pos)
        steps.append((host.kinds.tolist(), host.ks.tolist(), committed))
        sched.advance(plan)
        assert len(steps) < 100
    return steps, canvas


def test_even_split_remainder_first_and_last_step_fills_the_block():
    steps, _ = run_schedule([[5, 6]], max_new_tokens=7, steps=5, block_length=4)
    # blocks of 4 and 3 masks; 5 steps over 2 blocks: 3 + 2; k = 2,1,1 then 2,1
    assert [len(c[0]) for _, _, c in steps] == [2, 1, 1, 2, 1]
    assert sorted(p for _, _, c in steps[:3] for p in c[0]) == [2, 3, 4, 5]


def test_blocks_left_to_right_and_prompt_masks_first():
    steps, canvas = run_schedule([[5, MASK, 6]], max_new_tokens=4, steps=3, block_length=2)
    assert canvas.block[0].tolist() == [-1, 0, -1, 1, 1, 2, 2]
    assert canvas.block_masks[0].tolist() == [1, 2, 2]
    assert [c[0] for _, _, c in steps] == [[1], [3, 4], [5, 6]]


def test_lookahead_only_when_more_masks_than_k():
    steps, _ = run_schedule([[5]], max_new_tokens=4, steps=2, block_length=4)
    assert [k[0] for k, _, _ in steps] == [LOOKAHEAD, PLAIN]      # 4 masks, k=2: look; then 2 left, k=2: plain
    steps, _ = run_schedule([[5]], max_new_tokens=4, steps=2, block_length=4, lookahead=False)
    assert [k[0] for k, _, _ in steps] == [PLAIN, PLAIN]


def test_bypass_commits_the_confident_positions_only_and_never_on_the_last_step():
    steps, _ = run_schedule([[5]], threshold=0.9, confident=[(0, 3)], max_new_tokens=4, steps=2, block_length=4)
    kinds, ks, committed = steps[0]
    assert kinds == [BYPASS] and ks == [1] and committed == [[3]]
    # "1234|34", 12 new tokens, 4 steps, block 6, every position confident: still 4 steps, the
    # last one of each block filling it
    steps, _ = run_schedule([[5, 6, 7, 8, 9, 7, 8]], threshold=0.9, confident=[(0, t) for t in range(7, 19)],
                            max_new_tokens=12, steps=4, block_length=6)
    assert [k[0] for k, _, _ in steps] == [BYPASS, PLAIN, BYPASS, PLAIN] and [n[0] for _, n, _ in steps] == [3] * 4


def test_parallel_threshold_commits_every_confident_position():
    conf = [(0, t) for t in (1, 2, 3, 6)]
    steps, _ = run_schedule([[5]], threshold=0.9, threshold_mode="parallel", confident=conf, max_new_tokens=8,
                            steps=8, block_length=8)
    kinds, ks, committed = steps[0]
    assert kinds == [BYPASS] and ks == [4] and committed == [[1, 2, 3, 6]]
    assert len(steps) == 1 + 4                      # then one position a step (8 steps for 8 masks)


def test_timesteps_schedule_is_dreams():
    """Dream's diffusion_generate: int(masks * (1 - s / t)) on linspace(1, eps, steps + 1), the
    last step all that is left; 0 is an idle step."""
    steps, _ = run_schedule([[5]], max_new_tokens=8, steps=8, block_length=8, schedule="timesteps")
    t = torch.linspace(1, 1e-3, 9)
    left, want = 8, []
    for i in range(8):
        n = left if i == 7 else int(torch.tensor(left, dtype=torch.float32) * (1 - t[i + 1] / t[i]))
        want.append(n)
        left -= n
    assert [n[0] for _, n, _ in steps] == want == [0, 1, 1, 1, 1, 1, 1, 2]    # the issue's [0, 1, ..., 1, 2]
    assert [k[0] for k, _, _ in steps][0] == IDLE


def test_sequences_of_a_batch_are_scheduled_alone():
    prompts = [[5], [5, 6, 7, 8, 9], [MASK, 5]]
    together, _ = run_schedule(prompts, max_new_tokens=6, steps=4, block_length=3)
    for b, p in enumerate(prompts):
        alone, _ = run_schedule([p], max_new_tokens=6, steps=4, block_length=3)
        mine = [(k[b], n[b], c[b]) for k, n, c in together if k[b] != DONE]
        assert mine == [(k[0], n[0], c[0]) for k, n, c in alone]


def test_aligned_blocks_follow_absolute_positions():
    _, canvas = run_schedule([[5, 6, 7]], aligned=True, max_new_tokens=5, steps=3, block_length=4)
    assert canvas.block[0].tolist() == [-1, -1, -1, 1, 2, 2, 2, 2]


def test_too_few_steps_raise_naming_both_numbers():
    with pytest.raises(ValueError, match=r"steps \(1\) must be >= the number of blocks \(2"):
        run_schedule([[5]], max_new_tokens=8, steps=1, block_length=4)


def test_one_host_copy_per_step(monkeypatch):
    """read_back reads the device once: kinds, k, the masks left and the unique flags come back together."""
    reads = []
    real = torch.Tensor.cpu
    monkeypatch.setattr(torch.Tensor, "cpu", lambda self, *a, **k: reads.append(self.shape) or real(self, *a, **k))
    steps, _ = run_schedule([[5], [6, 7]], max_new_tokens=4, steps=2, block_length=4)
    assert len(reads) == len(steps) + 1
