"""The lm-evaluation-harness model ``igkernels`` on the embedded model, offline: a local task
definition over a small local file; completions equal igkernels' own decoding of the same
contexts and seeds; stop sequences honoured; log-likelihood requests refused by name."""
from __future__ import annotations

import json

import pytest

lm_eval = pytest.importorskip("lm_eval")

from lm_eval.api.instance import Instance  # noqa: E402

from igkernels.eval.harness import IGKernelsLM  # noqa: E402

ROWS = [{"question": q, "answer": a} for q, a in (("12*3=", "036"), ("45*2=", "090"), ("21*4=", "084"),
                                                   ("33*3=", "099"), ("17*5=", "085"))]


@pytest.fixture(scope="module")
def lm():
    return IGKernelsLM(device="cpu", batch_size=2, steps=3, candidates=4, seed=5)


def request(context: str, until, max_gen_toks: int = 3, idx: int = 0) -> Instance:
    return Instance("generate_until", {}, (context, {"until": until, "max_gen_toks": max_gen_toks}), idx)


def test_a_local_task_runs_offline_and_equals_igkernels_decoding(tmp_path, monkeypatch, lm):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    data = tmp_path / "mul.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "igk_mul.yaml").write_text(f"""task: igk_mul
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["|"]
  max_gen_toks: 3
metric_list:
  - metric: exact_match
""")
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    fresh = IGKernelsLM(device="cpu", batch_size=2, steps=3, candidates=4, seed=5)
    out = simple_evaluate(model=fresh, tasks=["igk_mul"], task_manager=TaskManager(include_path=str(tmp_path)),
                          log_samples=True)
    got = [s["resps"][0][0] for s in sorted(out["samples"]["igk_mul"], key=lambda s: s["doc_id"])]
    want = lm.sampler.generate([r["question"] for r in ROWS], max_new_tokens=3, steps=3, candidates=4,
                               seed=tuple(5 + i for i in range(len(ROWS)))).texts
    assert got == want
    score = out["results"]["igk_mul"]["exact_match,none"]
    assert score == sum(g == r["answer"] for g, r in zip(got, ROWS)) / len(ROWS)


def test_stop_sequences_cut_the_completion(lm):
    full = lm.generate_until([request("12*3=", [])], disable_tqdm=True)[0]
    assert len(full) == 3
    stop = full[1]
    cut = lm.generate_until([request("12*3=", [stop])], disable_tqdm=True)[0]
    assert cut == full.split(stop, 1)[0]


def test_requests_keep_their_order_across_settings(lm):
    reqs = [request("12*3=", ["|"], 3), request("45*2=", ["|"], 2), request("21*4=", ["|"], 3)]
    texts = lm.generate_until(reqs, disable_tqdm=True)
    assert [len(t) for t in texts] == [3, 2, 3]


def test_loglikelihood_requests_are_refused_by_name(lm):
    with pytest.raises(NotImplementedError, match="loglikelihood requests need left-to-right"):
        lm.loglikelihood([Instance("loglikelihood", {}, ("12*3=", "036"), 0)])
    with pytest.raises(NotImplementedError, match="loglikelihood_rolling"):
        lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, ("12*3=036",), 0)])


def test_bad_model_args_name_the_argument():
    with pytest.raises(ValueError, match="model_args: unknown nonsense"):
        IGKernelsLM(device="cpu", nonsense=1)
