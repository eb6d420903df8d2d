"""Command-line options made from the config dataclasses (`prover.commands.options`): every field
of the search, sampling, prompt and policy configs reaches the search and the policy that
`prover prove` / `prover eval` / `prover collect` build, presets, collisions, bad values, and the
mixture prompt.  Pure Python: Lean is never started (the checker is a fake that refuses work)."""

from __future__ import annotations

import dataclasses
import inspect
import json
import sys
import typing
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import search as search_pkg
from prover.cli import build_parser, main
from prover.commands import options as O
from prover.lean.types import CheckRequest, CheckResult, Verdict
from prover.policy import config_class, load_policy, parse_spec
from prover.policy.base import ProofTask, Sampling, SamplingParams
from prover.policy.hf import HFConfig, HFPolicy, as_prompt_config
from prover.policy.prompts import (
    COT_INSTRUCTION,
    NON_COT_INSTRUCTION,
    PromptBuilder,
    PromptConfig,
)
from search.base import Budget

STATEMENT = "theorem t (x : Nat) : x + 0 = x := by"
SPECS = {
    "automation": "automation",
    "hf": "hf:/models/prover",
    "vllm": "vllm:/models/prover",
    "openai": "openai:http://127.0.0.1:9/v1#prover",
}
# one run per line: every search and every policy kind at least once
COMBOS = [
    ("rmaxts", "hf"),
    ("sample", "vllm"),
    ("bfs", "openai"),
    ("rmaxts", "automation"),
    ("decompose", "automation"),
]
# fields that are not options, each for a reason given in its metadata help (the policy spec
# gives `model` / `base_url`; OpenAI's local token check needs a count_tokens function)
NOT_OPTIONS = {
    ("HFConfig", "model"),
    ("VLLMConfig", "model"),
    ("OpenAIConfig", "base_url"),
    ("OpenAIConfig", "model"),
    ("OpenAIConfig", "max_context_tokens"),
    ("DecomposeConfig", "subgoal_config"),  # the subgoal search's own options fill it
}
# non-default values the generic rule (bool: flipped, number: + 3 or + 0.25) cannot give
OVERRIDES: dict[tuple[str, str], Any] = {
    ("Sampling", "top_p"): 0.5,
    ("RMaxTSConfig", "gamma"): 0.9,
    ("DecomposeConfig", "sketch_policy"): "replay:sketches.jsonl",
    ("DecomposeConfig", "subgoal_search"): "sample",
    ("DecomposeConfig", "subgoal_cache"): "subgoals",
    ("PromptConfig", "mode"): "cot",
    ("PromptConfig", "few_shot"): 2,
    ("PromptConfig", "few_shot_path"): "shots.jsonl",
    ("PromptConfig", "default_header"): "import Mathlib\n\n",
    ("AutomationConfig", "mathlib"): True,
    ("HFConfig", "device"): "cuda:1",
    ("HFConfig", "dtype"): "bfloat16",
    ("VLLMConfig", "dtype"): "float16",
    ("VLLMConfig", "gpu_memory_utilization"): 0.5,
}


class _Stop(Exception):
    """Raised where the command would start generating: the test has what it needs."""


class _NoLean:
    name = "embedded"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        raise AssertionError("the options test must not reach Lean")

    def close(self) -> None:
        pass


class _FakeVLLM:
    """A stand-in `vllm` module (the real one needs a GPU): records the engine arguments."""

    def __init__(self) -> None:
        self.llm_kwargs: list[dict[str, Any]] = []
        fake = self

        class LLM:
            def __init__(self, **kwargs: Any) -> None:
                fake.llm_kwargs.append(kwargs)
                self.llm_engine = SimpleNamespace(model_config=SimpleNamespace(max_model_len=4096))

            def get_tokenizer(self) -> Any:
                return SimpleNamespace(encode=lambda text: text.split())

            def generate(self, prompts: list[str], sps: list[Any], **kw: Any) -> list[Any]:
                out = SimpleNamespace(text="  rfl\n```", token_ids=[1], finish_reason="stop")
                return [SimpleNamespace(outputs=[out]) for _ in prompts]

        self.module = ModuleType("vllm")
        self.module.LLM = LLM  # type: ignore[attr-defined]
        sampling_params = lambda **kw: SimpleNamespace(kwargs=kw)  # noqa: E731
        self.module.SamplingParams = sampling_params  # type: ignore[attr-defined]


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> _FakeVLLM:
    fake = _FakeVLLM()
    monkeypatch.setitem(sys.modules, "vllm", fake.module)
    return fake


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a scratch folder holding `shots.jsonl`, the few-shot file the tests name."""
    monkeypatch.chdir(tmp_path)
    shots = [
        {
            "name": f"e{i}",
            "formal_statement": f"theorem e{i} : {i} = {i} := by",
            "formal_proof": "\n  rfl",
        }
        for i in range(4)
    ]
    Path("shots.jsonl").write_text("".join(json.dumps(r) + "\n" for r in shots), encoding="utf-8")


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Capture the search the command builds and the `load_policy` call, then stop (raise
    _Stop) before a policy or Lean starts.  `captured["policy_result"]`, if set, is returned by
    `load_policy` instead of stopping (for `collect`, which stops at `collect`)."""
    got: dict[str, Any] = {}
    real_get_search = search_pkg.get_search

    def get_search(name: str, **config: Any) -> Any:
        got["search"] = real_get_search(name, **config)
        return got["search"]

    def fake_load_policy(spec: str, lean_backend: str | None = None, **kwargs: Any) -> Any:
        got["policy"] = (spec, lean_backend, kwargs)
        if "policy_result" in got:
            return got["policy_result"]
        raise _Stop

    monkeypatch.setattr(search_pkg, "get_search", get_search)
    monkeypatch.setattr("prover.policy.load_policy", fake_load_policy)
    monkeypatch.setattr("prover.lean.make_checker", lambda *a, **k: _NoLean())
    return got


# ------------------------------------------------------------------------------------------------
# helpers: a non-default value for every option, and its command-line spelling


def _meta(group: O.Group, name: str) -> Any:
    return {f.name: f.metadata for f in dataclasses.fields(group.cls())}[name]


def _non_default(group: O.Group, opt: O.Option) -> Any:
    cls = group.cls()
    key = (cls.__name__, opt.name)
    if key in OVERRIDES:
        return OVERRIDES[key]
    d = opt.default
    if isinstance(d, bool):
        return not d
    if isinstance(d, int):
        return d + 3
    if isinstance(d, float):
        return d + 0.25
    if d is None:
        args = typing.get_args(typing.get_type_hints(cls)[opt.name])
        if int in args:
            return 4096
        if float in args:
            return 2.5
    raise AssertionError(f"give {key} a non-default value in OVERRIDES")


def _argv(group: O.Group, values: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for opt in O.options_of(group):
        v = values[opt.name]
        if isinstance(v, bool):
            off = _meta(group, opt.name).get("off_flag")
            out.append(opt.flag if v else (off or "--no-" + opt.flag[2:]))
        else:
            out += [opt.flag, str(v)]
    return out


def _values(group: O.Group) -> dict[str, Any]:
    return {o.name: _non_default(group, o) for o in O.options_of(group)}


def _all_set(search: str, kind: str) -> tuple[list[str], dict[str, dict[str, Any]]]:
    """argv setting every option of the search, sampling, prompt (unless automation) and policy
    configs to a non-default value, and {group key: {field: value}}."""
    groups = [O.SEARCH_GROUPS[search], O.SAMPLING, O.POLICY_GROUPS[kind]]
    if kind != "automation":
        groups.append(O.PROMPT)
    values = {g.key: _values(g) for g in groups}
    argv = ["--policy", SPECS[kind], "--search", search, "--budget", "2x4"]
    for g in groups:
        argv += _argv(g, values[g.key])
    return argv, values


def _expected_search(search: str, values: dict[str, dict[str, Any]]) -> Any:
    return search_pkg.config_class(search)(
        **values[search], sampling=Sampling(**values["sampling"])
    )


def _required(kind: str) -> dict[str, Any]:
    """The config fields the policy spec gives (`model`, `base_url`)."""
    _, spec_args = parse_spec(SPECS[kind])
    return dict(zip(O.spec_fields(config_class(kind)), spec_args, strict=True))


def _expected_policy(kind: str, values: dict[str, dict[str, Any]]) -> Any:
    extra = {"prompt": PromptConfig(**values["prompt"])} if kind != "automation" else {}
    return config_class(kind)(**_required(kind), **values[kind], **extra)


def _policy_config(kind: str, kwargs: dict[str, Any]) -> Any:
    """The config the policy constructor builds from `load_policy`'s keyword arguments: the real
    policy's (automation, openai, vllm with a stand-in vllm module); for hf (torch + a model)
    the constructor's signature must accept them and HFConfig is built the way it builds it."""
    if kind == "hf":
        inspect.signature(HFPolicy.__init__).bind(None, "/models/prover", **kwargs)
        rest = {k: v for k, v in kwargs.items() if k != "prompt"}
        return HFConfig(
            model="/models/prover", prompt=as_prompt_config(kwargs.get("prompt")), **rest
        )
    policy = load_policy(SPECS[kind], lean_backend="embedded", **kwargs)
    try:
        return policy.config  # type: ignore[attr-defined]
    finally:
        policy.close()


# ------------------------------------------------------------------------------------------------
# every config field has an option, and every option reaches the search and the policy


def test_every_config_field_is_an_option_or_exempt() -> None:
    groups = [
        *O.SEARCH_GROUPS.values(),
        *O.POLICY_GROUPS.values(),
        O.SAMPLING,
        O.PROMPT,
        O.CORRECTION,
    ]
    for g in groups:
        cls = g.cls()
        names = {o.name for o in O.options_of(g)}  # TypeError for a field without help
        for f in dataclasses.fields(cls):
            nested = f.name in ("sampling", "prompt", "correction")
            assert f.name in names or nested or (cls.__name__, f.name) in NOT_OPTIONS, (
                f"{cls.__name__}.{f.name} has no command-line option"
            )
    flags = [o.flag for g in groups for o in O.options_of(g)]
    assert len(flags) == len(set(flags)), "two config fields share an option name"
    build_parser()  # argparse refuses conflicting options


def test_a_config_field_without_help_breaks_the_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclasses.dataclass(frozen=True)
    class Knobs:
        documented: int = dataclasses.field(default=1, metadata={"help": "a knob"})
        undocumented: int = 2

    monkeypatch.setattr(O.Group, "cls", lambda self: Knobs)
    with pytest.raises(TypeError, match="Knobs.undocumented has no command-line help"):
        O.options_of(O.SAMPLING)


def test_every_field_set_on_the_command_line_reaches_search_and_policy(
    captured: dict[str, Any], fake_vllm: _FakeVLLM
) -> None:
    covered: set[tuple[str, str]] = set()
    for search, kind in COMBOS:
        argv, values = _all_set(search, kind)
        captured.clear()
        with pytest.raises(_Stop):
            main(["prove", "--statement", STATEMENT, *argv])
        assert captured["search"].config == _expected_search(search, values), search
        spec, backend, kwargs = captured["policy"]
        assert (spec, backend) == (SPECS[kind], "embedded")
        assert _policy_config(kind, kwargs) == _expected_policy(kind, values), kind
        covered |= {(k, name) for k, vs in values.items() for name in vs}
    # the vLLM engine itself got the vllm options
    engine = fake_vllm.llm_kwargs[-1]
    vllm = _values(O.POLICY_GROUPS["vllm"])
    assert {k: engine[k] for k in vllm} == vllm
    every = {
        (g.key, o.name)
        for g in [*O.SEARCH_GROUPS.values(), *O.POLICY_GROUPS.values(), O.SAMPLING, O.PROMPT]
        for o in O.options_of(g)
    }
    assert covered == every


def _benchmark(tmp_path: Path) -> Path:
    path = tmp_path / "bench.jsonl"
    row = {"name": "t1", "split": "valid", "formal_statement": STATEMENT + "\n", "header": ""}
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    return path


def test_eval_passes_and_records_every_option(captured: dict[str, Any], tmp_path: Path) -> None:
    argv, values = _all_set("rmaxts", "hf")
    out = tmp_path / "out"
    with pytest.raises(_Stop):
        main(
            [
                "eval",
                "--benchmark",
                str(_benchmark(tmp_path)),
                "--split",
                "valid",
                "--out",
                str(out),
                *argv,
            ]
        )
    assert captured["search"].config == _expected_search("rmaxts", values)
    _, _, kwargs = captured["policy"]
    assert _policy_config("hf", kwargs) == _expected_policy("hf", values)
    extra = json.loads((out / "config.json").read_text())["extra"]
    # every field differs from its default, so every field is recorded
    assert extra["search_options"] == {**values["rmaxts"], "sampling": values["sampling"]}
    assert extra["policy_options"] == {**values["hf"], "prompt": values["prompt"]}


def test_eval_records_only_options_that_differ(captured: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["eval", "--benchmark", str(_benchmark(tmp_path)), "--split", "valid", "--out", str(out)]
    with pytest.raises(_Stop):  # --concurrency 32 and --top-p 0.95 are the defaults
        main([*argv, "--concurrency", "32", "--top-p", "0.95", "--checkpoint-every", "2"])
    extra = json.loads((out / "config.json").read_text())["extra"]
    extra.pop("checker_limits", None)  # the backend's default heartbeats: see below
    assert extra == {"search_options": {"checkpoint_every": 2}}
    with pytest.raises(_Stop):  # a resumed run with the same effective options is accepted
        main([*argv, "--checkpoint-every", "2"])
    assert main([*argv, "--checkpoint-every", "3"]) == 2  # another configuration: refused


def test_collect_passes_every_policy_prompt_and_sampling_option(
    captured: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import prover.rl.collect as rl_collect

    def fake_collect(
        problems: Any, policy: Any, checker: Any, writer: Any, config: Any, **kw: Any
    ) -> Any:
        captured["collect_config"] = config
        raise _Stop

    monkeypatch.setattr(rl_collect, "collect", fake_collect)
    captured["policy_result"] = SimpleNamespace(close=lambda: None)
    groups = [O.SAMPLING, O.PROMPT, O.POLICY_GROUPS["openai"]]
    values = {g.key: _values(g) for g in groups}
    argv = [
        "collect",
        "--benchmark",
        str(_benchmark(tmp_path)),
        "--out",
        str(tmp_path / "c"),
        "--policy",
        SPECS["openai"],
    ]
    for g in groups:
        argv += _argv(g, values[g.key])
    with pytest.raises(_Stop):
        main(argv)
    assert captured["collect_config"].sampling == Sampling(**values["sampling"])
    _, _, kwargs = captured["policy"]
    assert _policy_config("openai", kwargs) == _expected_policy("openai", values)
    # collect has no search: search options are not its options
    with pytest.raises(SystemExit) as e:
        main([*argv, "--concurrency", "4"])
    assert e.value.code == 2


def test_collect_keeps_its_own_sampling_default(capsys: pytest.CaptureFixture[str]) -> None:
    import prover.rl.collect as rl_collect

    assert rl_collect.CollectConfig().sampling == Sampling(max_new_tokens=512)
    with pytest.raises(SystemExit):
        main(["collect", "--help"])
    assert "per sample (default: 512)" in " ".join(capsys.readouterr().out.split())


# ------------------------------------------------------------------------------------------------
# presets


def test_preset_sets_the_paper_setting_and_explicit_options_win(
    captured: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(_Stop):
        main(
            [
                "eval",
                "--benchmark",
                str(_benchmark(tmp_path)),
                "--split",
                "valid",
                "--out",
                str(out),
                "--policy",
                SPECS["hf"],
                "--preset",
                "deepseek-v1.5-rmaxts-mixture",
                "--budget",
                "2x8",
                "--temperature",
                "0.7",
            ]
        )
    cfg = captured["search"].config
    assert cfg.sampling == Sampling(temperature=0.7, top_p=0.95, max_new_tokens=2048)
    assert (cfg.concurrency, cfg.gamma, cfg.state_comment, cfg.checkpoint_every) == (
        32,
        0.99,
        True,
        128,
    )
    _, _, kwargs = captured["policy"]
    assert kwargs == {"prompt": {"mode": "mixture"}}
    config = json.loads((out / "config.json").read_text())
    config["extra"].pop("checker_limits", None)  # the backend's default heartbeats
    assert (config["search"], config["budget"]) == ("rmaxts", "2x8")  # --budget beat 32x6400
    assert config["extra"] == {
        "search_options": {"sampling": {"temperature": 0.7}},
        "policy_options": {"prompt": {"mode": "mixture"}},
    }


@pytest.mark.parametrize("name", sorted(O.PRESETS))
def test_every_preset_builds(name: str, captured: dict[str, Any]) -> None:
    preset = O.PRESETS[name]
    with pytest.raises(_Stop):
        main(["prove", "--statement", STATEMENT, "--policy", SPECS["vllm"], "--preset", name])
    cfg = captured["search"].config
    assert captured["search"].name == preset.search
    assert cfg.sampling == Sampling(temperature=1.0, top_p=0.95, max_new_tokens=2048)
    prompt = as_prompt_config(captured["policy"][2].get("prompt"))  # as the policy builds it
    assert prompt.mode == preset.values["prompt"]["mode"]
    if preset.values["prompt"]["mode"] == "mixture":
        assert Budget.parse(preset.budget).runs % 2 == 0


def test_list_presets_and_preset_errors(
    captured: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["eval", "--list-presets"])  # no --benchmark/--out needed
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in O.PRESETS) and "arXiv 2408.08152" in text
    # the presets set prompt options, which the automation policy does not take
    assert main(["prove", "--statement", STATEMENT, "--preset", "deepseek-v1.5-cot"]) == 2
    err = capsys.readouterr().err
    assert "--prompt-mode cot (from --preset deepseek-v1.5-cot) only applies to --policy" in err
    with pytest.raises(SystemExit) as e:
        main(["prove", "--statement", STATEMENT, "--preset", "deepseek-v9"])
    assert e.value.code == 2


# ------------------------------------------------------------------------------------------------
# collisions and bad values: exit 2, naming the option


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--search", "sample", "--ucb1", "--tree-dir", "t"],
            "--ucb1, --tree-dir only apply to --search rmaxts",
        ),
        (["--sample-batch-size", "4"], "--sample-batch-size only applies to --search sample"),
        (
            ["--search", "sample", "--bfs-candidates", "2", "--concurrency", "2"],
            "--concurrency only applies to --search rmaxts; --bfs-candidates only applies to "
            "--search bfs",
        ),
        (
            ["--policy", SPECS["vllm"], "--hf-batch-size", "4"],
            "--hf-batch-size only applies to --policy hf:MODEL",
        ),
        (
            ["--policy", SPECS["hf"], "--vllm-seed", "4", "--automation-seed", "1"],
            "--automation-seed only applies to --policy automation; --vllm-seed only applies to "
            "--policy vllm:MODEL",
        ),
        (["--prompt-mode", "cot"], "--prompt-mode only applies to --policy hf:, vllm: or openai:"),
        (["--concurrency", "0"], "--concurrency: concurrency must be >= 1, got 0"),
        (["--top-p", "1.5"], "--top-p: top_p must be in (0, 1], got 1.5"),
        (
            ["--search", "bfs", "--max-new-tokens", "0"],
            "--max-new-tokens: max_new_tokens must be >= 1",
        ),
        (["--gamma", "0"], "--gamma: gamma must be in (0, 1]"),
        (["--policy", SPECS["hf"], "--hf-device", "tpu"], "--hf-device: HFPolicy device must be"),
        (
            ["--policy", SPECS["vllm"], "--vllm-gpu-memory-utilization", "2"],
            "--vllm-gpu-memory-utilization: VLLMPolicy gpu_memory_utilization must be in (0, 1]",
        ),
        (
            ["--policy", SPECS["openai"], "--openai-max-retries", "-1"],
            "--openai-max-retries: OpenAIPolicy max_retries must be >= 0",
        ),
        (["--automation-rank-temperature", "-1"], "--automation-rank-temperature: "),
        (
            ["--policy", SPECS["hf"], "--few-shot", "3"],
            "--few-shot: PromptConfig.few_shot=3 needs few_shot_path",
        ),
        (
            [
                "--policy",
                SPECS["hf"],
                "--prompt-mode",
                "v2",
                "--few-shot",
                "1",
                "--few-shot-path",
                "x",
            ],
            "few-shot prompts are a DeepSeek-Prover-V1.5 format",
        ),
        (
            ["--policy", SPECS["hf"], "--prompt-mode", "mixture"],
            "--prompt-mode: the mixture prompt gives half of the runs to non-CoT and half to CoT",
        ),
        (["--budget", "2x"], "--budget: budget '2x' is not RUNSxSAMPLES"),
    ],
)
def test_wrong_options_exit_2_naming_them(
    argv: list[str], message: str, captured: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prove", "--statement", STATEMENT, *argv]) == 2
    assert message in capsys.readouterr().err
    assert "policy" not in captured  # refused before a policy or Lean starts


@pytest.mark.parametrize(
    "argv",
    [
        ["--temperature", "hot"],
        ["--prompt-mode", "cot-v9"],
        ["--concurrency", "1.5"],
        ["--hf-dtype", "int3"],
    ],
)
def test_unparseable_values_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["prove", "--statement", STATEMENT, *argv])
    assert e.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_seed_options_are_distinct(captured: dict[str, Any], fake_vllm: _FakeVLLM) -> None:
    with pytest.raises(_Stop):
        main(
            [
                "prove",
                "--statement",
                STATEMENT,
                "--policy",
                SPECS["vllm"],
                "--seed",
                "5",
                "--vllm-seed",
                "9",
                "--search",
                "sample",
                "--sample-batch-size",
                "3",
            ]
        )
    assert captured["policy"][2] == {"seed": 9}
    assert captured["search"].config.batch_size == 3


def test_collect_mixture_needs_an_even_number_of_samples(
    captured: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "collect",
        "--benchmark",
        str(_benchmark(tmp_path)),
        "--out",
        str(tmp_path / "c"),
        "--policy",
        SPECS["hf"],
        "--prompt-mode",
        "mixture",
        "-k",
        "3",
    ]
    assert main(argv) == 2
    assert "--samples-per-problem is 3; use an even number" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# the mixture prompt


def test_mixture_prompts_even_runs_non_cot_and_odd_runs_cot() -> None:
    builder = PromptBuilder(PromptConfig(mode="mixture"))
    task = ProofTask(formal_statement=STATEMENT + "\n", name="t")
    modes = [builder.build(dataclasses.replace(task, run=r)) for r in range(4)]
    assert [b.mode for b in modes] == ["non-cot", "cot", "non-cot", "cot"]
    assert modes[0].text.startswith(NON_COT_INSTRUCTION + "\n")
    assert modes[1].text.startswith(COT_INSTRUCTION + "\n")
    assert PromptConfig(mode="mixture").stop == ["```"]  # both V1.5 modes stop at the fence
    # without a run: the task's seed, then the call's seed, decides (deterministically)
    assert builder.build(dataclasses.replace(task, seed=7)).mode == "cot"
    assert builder.build(task, seed=4).mode == "non-cot"
    assert builder.build(task).mode == "non-cot"


class _Refuting:
    """A checker that rejects every proof (the search then spends its whole budget)."""

    name = "embedded"

    def check(self, requests: Sequence[CheckRequest]) -> list[CheckResult]:
        return [CheckResult(Verdict.FAILED) for _ in requests]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("search", ["sample", "bfs"])
def test_mixture_splits_a_search_budget_by_run(search: str, fake_vllm: _FakeVLLM) -> None:
    policy = load_policy(SPECS["vllm"], prompt={"mode": "mixture"})
    seen: list[tuple[int | None, str]] = []
    generate = policy.generate

    def spy(tasks: Sequence[ProofTask], params: SamplingParams) -> Any:
        out = generate(tasks, params)
        seen.extend(
            (t.run, c.meta["prompt_mode"]) for t, row in zip(tasks, out, strict=True) for c in row
        )
        return out

    policy.generate = spy  # type: ignore[method-assign]
    search_pkg.get_search(search).run(
        ProofTask(formal_statement=STATEMENT + "\n", name="t"), policy, _Refuting(), Budget(4, 2)
    )
    assert {run: mode for run, mode in seen} == {0: "non-cot", 1: "cot", 2: "non-cot", 3: "cot"}
    modes = [mode for _, mode in seen]
    assert modes.count("cot") == modes.count("non-cot")  # half of the samples in each mode


# ------------------------------------------------------------------------------------------------
# per-item Lean limits (--timeout, --heartbeats, --spare-processes)


def test_eval_limits_reach_the_checker_and_are_part_of_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The limits reach the run's own Lean processes; the verdict-deciding ones are recorded in
    config.json (a resumed run with another limit is refused), the spare processes are not."""
    made: list[dict[str, Any]] = []

    def make_checker(backend: str = "auto", **options: Any) -> Any:
        made.append(options)
        raise _Stop  # before a policy or Lean starts

    monkeypatch.setattr("prover.lean.make_checker", make_checker)
    out = tmp_path / "out"
    argv = ["eval", "--benchmark", str(_benchmark(tmp_path)), "--split", "valid", "--out", str(out)]
    argv += ["--policy", "automation", "--search", "sample", "--budget", "1x1"]
    limits = ["--timeout", "7", "--heartbeats", "5000"]
    with pytest.raises(_Stop):
        main([*argv, *limits, "--spare-processes", "2"])
    assert made == [{"timeout_s": 7.0, "heartbeats": 5000, "spare_processes": 2}]
    config = json.loads((out / "config.json").read_text())
    assert config["extra"]["checker_limits"] == {"timeout_s": 7.0, "heartbeats": 5000}
    with pytest.raises(_Stop):  # another number of spares: the same configuration
        main([*argv, *limits, "--spare-processes", "0"])
    assert main([*argv, "--timeout", "8", "--heartbeats", "5000"]) == 2  # another limit


@pytest.mark.parametrize(
    ("command", "backend", "expected"),
    [
        ("eval", "embedded", {"heartbeats": 20_000}),  # a search on embedded: grind's stall
        ("eval", "native", {}),  # Lean's own default
        ("verify", "embedded", {}),  # verifying is not searching: Lean's own default
    ],
)
def test_search_heartbeats_default_on_embedded(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str, backend: str, expected: dict
) -> None:
    """Without `--heartbeats`, a searching command on embedded Lean stops items at 20000
    heartbeats (recorded in the run's configuration); verify and native keep Lean's 200000."""
    made: list[dict[str, Any]] = []

    def make_checker(backend: str = "auto", **options: Any) -> Any:
        made.append(options)
        raise _Stop

    monkeypatch.setattr("prover.lean.make_checker", make_checker)
    monkeypatch.setattr("prover.lean.resolve_backend", lambda b="auto": backend)
    out = tmp_path / "out"
    if command == "eval":
        argv = ["eval", "--benchmark", str(_benchmark(tmp_path)), "--split", "valid"]
        argv += ["--out", str(out), "--policy", "automation", "--search", "sample"]
    else:
        proof = tmp_path / "p.jsonl"
        row = {"id": "t", "formal_statement": STATEMENT, "proof": "\n  omega\n"}
        proof.write_text(json.dumps(row) + "\n", encoding="utf-8")
        argv = ["verify", str(proof)]
    try:
        code = main(argv)
    except _Stop:
        code = None
    assert code is None, code
    assert made == [expected]
    if command == "eval":
        config = json.loads((out / "config.json").read_text())
        assert config["extra"].get("checker_limits", {}) == expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--spare-processes", "-1"], "--spare-processes: spare_processes must be >= 0"),
        (["--heartbeats", "10"], "--heartbeats: heartbeats=10 is too small"),
        (["--timeout", "0"], "--timeout: timeout_s must be a positive number of seconds"),
        (
            ["--checker", "http://127.0.0.1:9", "--heartbeats", "5000"],
            "--heartbeats is the server's setting",
        ),
    ],
)
def test_bad_limits_exit_2_naming_them(
    argv: list[str], message: str, captured: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["prove", "--statement", STATEMENT, *argv]) == 2
    assert message in capsys.readouterr().err
    assert "policy" not in captured
