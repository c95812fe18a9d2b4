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


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(nonsense=1), ValueError, "model_args: unknown nonsense"),
    (dict(steps=0), ValueError, "model_args: steps must be an int >= 1, got 0"),
    (dict(steps="abc"), ValueError, "model_args: steps must be an int >= 1, got 'abc'"),
    (dict(steps=2.5), ValueError, "model_args: steps must be an int >= 1"),
    (dict(max_new_tokens=4), ValueError, "model_args: max_new_tokens is set by each request's max_gen_toks"),
    (dict(chat_template=True), ValueError, "model_args: chat_template is set by lm-eval's --apply_chat_template"),
    (dict(pretrained=""), ValueError, "model_args: pretrained is empty"),
])
def test_bad_model_args_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        IGKernelsLM(device="cpu", **kwargs)


def test_lm_evals_default_cuda_device_falls_back_to_the_cpu_with_a_warning():
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.warns(UserWarning, match="no CUDA device is visible; running on the CPU"):
        assert IGKernelsLM(device="cuda:0", steps=2).sampler.adapter.device.type == "cpu"


@pytest.mark.parametrize("gen_kwargs, exc, match", [
    ("until=|", TypeError, r"lm-eval request 1: gen_kwargs must be a dict"),
    ({"until": 5}, TypeError, r"lm-eval request 1: until must be a str or a list of str"),
    ({"max_gen_toks": 0}, ValueError, r"lm-eval request 1: max_gen_toks must be an int >= 1, got 0"),
    ({"max_gen_toks": 4.7}, ValueError, r"lm-eval request 1: max_gen_toks must be an int >= 1"),
])
def test_bad_requests_name_the_request_and_field(lm, gen_kwargs, exc, match):
    reqs = [request("12*3=", ["|"]), Instance("generate_until", {}, ("45*2=", gen_kwargs), 1)]
    with pytest.raises(exc, match=match):
        lm.generate_until(reqs, disable_tqdm=True)


def test_a_too_long_request_is_named_and_ignored_generation_arguments_warn(lm):
    with pytest.raises(ValueError, match=r"lm-eval requests 2..2 \(prompts\[j\] is request 2 \+ j\): prompts\[0\]"):
        lm.generate_until([request("12*3=", ["|"]), request("45*2=", ["|"], 2), request("1" * 60, ["|"])],
                          disable_tqdm=True)
    sampled = Instance("generate_until", {}, ("12*3=", {"until": ["|"], "max_gen_toks": 3, "temperature": 0.7,
                                                       "do_sample": True}), 0)
    with pytest.warns(UserWarning, match="generation arguments do_sample, temperature are ignored"):
        lm.generate_until([sampled], disable_tqdm=True)


def test_a_chat_template_the_tokenizer_lacks_is_named(lm):
    if lm.tokenizer.chat_template:
        pytest.skip("the embedded tokenizer has a chat template")
    with pytest.raises(ValueError, match="--apply_chat_template: .* has no chat template"):
        lm.apply_chat_template([{"role": "user", "content": "12*3="}])
