"""The straightforward PyTorch code a user would write today, the baseline of the benchmarks:
softmax -> clamp -> log -> sum for the entropy, softmax again + gather for the confidence,
and a Gumbel argmax per sample."""
import torch


def naive_softmax_entropy(logits: torch.Tensor, num_samples: int, temperature: float = 1.0):
    f = logits.float()
    p = torch.softmax(f, dim=-1)
    entropy = -(p * torch.log(p.clamp(min=1e-12))).sum(-1)
    probs = torch.softmax(f, dim=-1)
    conf, argmax = probs.max(-1)
    draws = []
    for _ in range(num_samples):
        g = -torch.log(-torch.log(torch.rand_like(f).clamp(min=1e-20)))
        x = (f + temperature * g).argmax(-1, keepdim=True)
        draws.append((x, probs.gather(-1, x)))
    return entropy, conf, argmax, draws


def naive_state_uncertainty(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    p = torch.softmax(logits.float(), dim=-1)
    h = -(p * torch.log(p.clamp(min=1e-12))).sum(-1)
    return (h * mask).sum(-1) / mask.sum(-1).clamp(min=1)
