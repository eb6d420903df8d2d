"""Command-line options made from config dataclasses: the configs are the one source of truth.

Every knob of the search configs (`search.rmaxts.RMaxTSConfig`, `search.sampling.SamplingConfig`,
`search.bfs.BFSConfig`), of sampling (`prover.policy.base.Sampling`), of prompts
(`prover.policy.prompts.PromptConfig`) and of the policies (`AutomationConfig`, `HFConfig`,
`VLLMConfig`, `OpenAIConfig`) is a dataclass field with `metadata={"help": ...}`.  This module
turns those fields into argparse options and the parsed options back into config objects (as
TRL's HfArgumentParser does), so adding an option is one edit: a field with its help.  Metadata:

    help      the option's help; required (a field without it fails every command's parser)
    flag      the option's name when it is not `--{prefix}{field-name}` (e.g. `--prompt-mode`)
    choices   the allowed values (a Literal type gives its own)
    off_flag  one more option that turns a bool field off (RMaxTS's `--ucb1` ablation)
    cli       False: not an option (the policy spec gives `model`; see each field's help)

A bool field is `--x` / `--no-x`.  A nested config field (a search's `sampling`, a policy's
`prompt`) is a group of options of its own.  Each config group's options have a prefix where
names would collide (`--hf-batch-size` vs `--sample-batch-size`, `--vllm-seed` vs `--seed`).

Options default to "not given" (argparse.SUPPRESS), so only what the user, or a `--preset`, set
reaches a config; a run records only the given values that differ from the config's defaults
(eval's config.json, compared on resume).  An option of a config that does not apply (an RMaxTS
option with `--search sample`, `--hf-batch-size` with `--policy vllm:...`) is a UsageError
naming it, as is a value the config rejects.

Importing this module is cheap; the config modules are imported when a parser is built (none of
them imports torch, transformers, vllm or httpx at import time), so `prover --help` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prover.errors import UsageError

DEFAULT_SEARCH = "rmaxts"
DEFAULT_BUDGET = "1x32"
_GIVEN = "_given_options"  # namespace attribute: dest -> the option (or preset) that set it


# ------------------------------------------------------------------------------------------------
# Config groups


@dataclass(frozen=True)
class Group:
    """One config dataclass on the command line: a search's (key: its name), a policy kind's
    (key: the kind), or the nested `sampling` or `prompt` config."""

    key: str  # an option's dest is "<key>.<field>"
    prefix: str  # option prefix: "" -> --concurrency, "hf-" -> --hf-batch-size
    title: str  # help section
    applies: str  # what selects this config, for "only applies to" errors

    def cls(self) -> type:
        """The dataclass (imported now: `search.config_class`, `prover.policy.config_class`)."""
        if self.key in SEARCH_GROUPS:
            from search import config_class

            return config_class(self.key)
        if self.key in POLICY_GROUPS:
            from prover.policy import config_class as policy_config_class

            return policy_config_class(self.key)
        if self.key == "sampling":
            from prover.policy.base import Sampling

            return Sampling
        if self.key == "serve":
            from prover.service.config import ServeConfig

            return ServeConfig
        if self.key == "correction":
            from prover.policy.correction import Correction

            return Correction
        if self.key == "ray":
            from benchmarks.distributed import RayConfig

            return RayConfig
        from prover.policy.prompts import PromptConfig

        return PromptConfig


SEARCH_GROUPS: dict[str, Group] = {
    g.key: g
    for g in (
        Group("rmaxts", "", "RMaxTS (--search rmaxts)", "--search rmaxts"),
        Group("sample", "sample-", "whole-proof sampling (--search sample)", "--search sample"),
        Group("bfs", "bfs-", "best-first search (--search bfs)", "--search bfs"),
        Group("decompose", "", "subgoal decomposition (--search decompose)", "--search decompose"),
    )
}
POLICY_GROUPS: dict[str, Group] = {
    g.key: g
    for g in (
        Group("automation", "automation-", "automation policy", "--policy automation"),
        Group("hf", "hf-", "transformers policy (--policy hf:MODEL)", "--policy hf:MODEL"),
        Group("vllm", "vllm-", "vLLM policy (--policy vllm:MODEL)", "--policy vllm:MODEL"),
        Group(
            "openai",
            "openai-",
            "OpenAI-compatible server (--policy openai:URL#MODEL); key: $OPENAI_API_KEY",
            "--policy openai:URL#MODEL",
        ),
    )
}
SAMPLING = Group("sampling", "", "sampling (every search)", "every search")
PROMPT = Group(
    "prompt", "", "prompt (hf:, vllm: and openai: policies)", "--policy hf:, vllm: or openai:"
)
CORRECTION = Group(
    "correction",
    "",
    "self-correction (--search sample, --search decompose --subgoal-search sample)",
    "--search sample or decompose",
)
SERVE = Group("serve", "", "server (prover serve)", "prover serve")
# nested config fields and their groups
NESTED = {"sampling": SAMPLING, "prompt": PROMPT, "correction": CORRECTION}


@dataclass(frozen=True)
class Option:
    """The command-line option of one config field."""

    group: str
    name: str  # the field
    flag: str  # e.g. "--concurrency"
    default: Any

    @property
    def dest(self) -> str:
        return f"{self.group}.{self.name}"


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _nested(tp: Any) -> Group | None:
    """The group of a nested config field's type, or None."""
    for g in NESTED.values():
        if tp is g.cls():
            return g
    return None


def _required(f: dataclasses.Field[Any]) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def options_of(group: Group) -> list[Option]:
    """The options of a config group, in field order.  TypeError for a field without help."""
    cls = group.cls()
    hints = _hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "help" not in f.metadata:
            raise TypeError(
                f"{cls.__name__}.{f.name} has no command-line help: declare it with "
                "field(..., metadata={'help': '...'}) (or metadata cli=False with the reason as "
                "its help, if it cannot be an option)"
            )
        if f.metadata.get("cli", True) is False or _nested(hints[f.name]) is not None:
            continue
        flag = f.metadata.get("flag") or f"--{group.prefix}{f.name.replace('_', '-')}"
        default = None if _required(f) else f.default
        out.append(Option(group.key, f.name, flag, default))
    return out


def spec_fields(cls: type) -> list[str]:
    """Fields the policy spec gives (not options, no default), in order: `model`, or
    `base_url` and `model`."""
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.metadata.get("cli", True) is False and _required(f)
    ]


# ------------------------------------------------------------------------------------------------
# Adding options to a parser


def _given(ns: argparse.Namespace) -> dict[str, str]:
    given: dict[str, str] = ns.__dict__.setdefault(_GIVEN, {})
    return given


class _Store(argparse.Action):
    """Store the value and remember which option set it (for error messages)."""

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, opt: Any = None) -> None:
        setattr(ns, self.dest, values)
        _given(ns)[self.dest] = str(opt)


class _Bool(argparse.BooleanOptionalAction):
    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, opt: Any = None) -> None:
        super().__call__(parser, ns, values, opt)
        _given(ns)[self.dest] = str(opt)


class _Off(argparse.Action):
    """An extra option that sets a bool field to False (`--ucb1`)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kw)

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, opt: Any = None) -> None:
        setattr(ns, self.dest, False)
        _given(ns)[self.dest] = str(opt)


def _scalar(tp: Any) -> tuple[Any, tuple[Any, ...] | None]:
    """(argparse type, choices) of a field type: bool, int, float, str, Path, a Literal, or any
    of them `| None` (for `str | Path` the first)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        tp = next(a for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is typing.Literal:
        return str, typing.get_args(tp)
    if tp in (bool, int, float, str, Path):
        return tp, None
    raise TypeError(f"no command-line type for {tp!r}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _help(text: str, defaults: Mapping[str, Any]) -> str:
    """`text` and its default: the first owner's, then those of owners whose default differs
    (`(default: 2048; --search bfs: 256)`).  None and multi-line defaults are left to `text`."""
    shown = [(k, _show(v)) for k, v in defaults.items() if v is not None]
    if shown and not any("\n" in v for _, v in shown):
        first = shown[0][1]
        other = "".join(f"; {k}: {v}" for k, v in shown[1:] if v != first)
        text = f"{text} (default: {first}{other})"
    return text.replace("%", "%%")


def _add_group(
    parser: argparse.ArgumentParser,
    group: Group,
    defaults: Mapping[str, Any] | None = None,
    title: str | None = None,
) -> argparse._ArgumentGroup:
    """Add the options of `group`; `defaults` (label -> instance) shows per-owner defaults."""
    cls = group.cls()
    hints = _hints(cls)
    meta = {f.name: f.metadata for f in dataclasses.fields(cls)}
    g = parser.add_argument_group(title or group.title)
    for o in options_of(group):
        md = meta[o.name]
        owners = {k: getattr(v, o.name) for k, v in (defaults or {}).items()}
        help_text = _help(md["help"], owners or {"": o.default})
        tp, choices = _scalar(hints[o.name])
        choices = md.get("choices", choices)
        if tp is bool:
            g.add_argument(
                o.flag, dest=o.dest, action=_Bool, default=argparse.SUPPRESS, help=help_text
            )
            if "off_flag" in md:
                g.add_argument(
                    md["off_flag"],
                    dest=o.dest,
                    action=_Off,
                    default=argparse.SUPPRESS,
                    help=f"same as --no-{o.flag[2:]}",
                )
            continue
        metavar = None if choices else o.name.upper()
        g.add_argument(
            o.flag,
            dest=o.dest,
            action=_Store,
            type=tp,
            choices=choices,
            metavar=metavar,
            default=argparse.SUPPRESS,
            help=help_text,
        )
    return g


def add_search_options(parser: argparse.ArgumentParser) -> None:
    """Options of every search config and of sampling, plus RMaxTS's `--tree-dir` (a run's
    checkpoint folder, not a config field).  For `prover prove` and `prover eval`."""
    owners = {f"--search {k}": g.cls()() for k, g in SEARCH_GROUPS.items()}
    _add_group(parser, SAMPLING, {k: v.sampling for k, v in owners.items()})
    fixers = {k: v.correction for k, v in owners.items() if hasattr(v, "correction")}
    _add_group(parser, CORRECTION, fixers)
    for g in SEARCH_GROUPS.values():
        group = _add_group(parser, g)
        if g.key == "rmaxts":
            group.add_argument(
                "--tree-dir",
                dest="tree_dir",
                action=_Store,
                type=Path,
                default=None,
                help="checkpoint each tree here (atomically, every --checkpoint-every samples "
                "and at the end); the same command resumes from it after a crash or Ctrl-C; "
                "draw a tree with `prover tree show DIR/rmaxts-<name>-<hash>.run0.json`",
            )


def add_sampling_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """The sampling options alone, with `default` (a Sampling) as their defaults (`collect`)."""
    _add_group(parser, SAMPLING, {"": default}, title="sampling")


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    """Options of the prompt config and of every policy config."""
    _add_group(parser, PROMPT)
    for g in POLICY_GROUPS.values():
        _add_group(parser, g)


# ------------------------------------------------------------------------------------------------
# Presets: the papers' settings


@dataclass(frozen=True)
class Preset:
    """A named setting from a paper.  `values`: group key -> field -> value; a given option
    overrides its value, as `--search` and `--budget` override `search` and `budget`."""

    name: str
    description: str
    source: str
    search: str
    budget: str
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


_V15 = "DeepSeek-Prover-V1.5 (arXiv 2408.08152)"
# Sec. 2.4, the evaluation setting: "a temperature of 1, a top-p value of 0.95, and a maximum
# token limit of 2,048" (also the released configs' model_args)
_V15_SAMPLING = {"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 2048}
# Sec. 3.4 and the released configs/RMaxTS.py: 32 workers per tree (concurrent_num=32),
# gamma = 0.99, tactic-state comments on, a checkpoint every 128 samples (ckpt_interval=128)
_V15_RMAXTS = {
    "concurrency": 32,
    "gamma": 0.99,
    "discounted_ucb": True,
    "intrinsic_reward": True,
    "state_comment": True,
    "checkpoint_every": 128,
}
# the released configs/sampling.py: 128 samples per problem, drawn 32 at a time
_V15_SAMPLE = {"batch_size": 32}


def _v15(name: str, mode: str, search: str, budget: str, result: str) -> tuple[str, Preset]:
    what = "RMaxTS" if search == "rmaxts" else "whole-proof sampling"
    return name, Preset(
        name=name,
        description=f"{what}, {mode} prompt, temperature 1, top-p 0.95, 2048 new tokens",
        source=f"{_V15}, {result} on miniF2F-test (the RL model)",
        search=search,
        budget=budget,
        values={
            "prompt": {"mode": mode},
            "sampling": _V15_SAMPLING,
            search: _V15_RMAXTS if search == "rmaxts" else _V15_SAMPLE,
        },
    )


# the paper's miniF2F-test results with DeepSeek-Prover-V1.5-RL for each setting
PRESETS: dict[str, Preset] = dict(
    [
        _v15("deepseek-v1.5-non-cot", "non-cot", "sample", "1x128", "Figure 3: 50.5% at pass@128"),
        _v15("deepseek-v1.5-cot", "cot", "sample", "1x128", "Figure 3, Table 1: 51.6% at pass@128"),
        _v15(
            "deepseek-v1.5-mixture",
            "mixture",
            "sample",
            "32x6400",
            "Table 3: 61.1% at (16 + 16) x 6400",
        ),
        _v15(
            "deepseek-v1.5-rmaxts-non-cot",
            "non-cot",
            "rmaxts",
            "16x6400",
            "Table 3: 59.4% at 16 x 6400",
        ),
        _v15(
            "deepseek-v1.5-rmaxts-cot",
            "cot",
            "rmaxts",
            "16x6400",
            "Tables 1, 3: 62.7% at 16 x 6400",
        ),
        _v15(
            "deepseek-v1.5-rmaxts-mixture",
            "mixture",
            "rmaxts",
            "32x6400",
            "Tables 1, 3: 63.5% at (16 + 16) x 6400",
        ),
    ]
)


def presets_text() -> str:
    lines = ["presets (explicit options override a preset's values):"]
    for p in PRESETS.values():
        lines.append(f"  {p.name}")
        lines.append(f"      {p.description}")
        lines.append(f"      --search {p.search} --budget {p.budget}; source: {p.source}")
    return "\n".join(lines)


class _ListPresets(argparse.Action):
    def __init__(self, option_strings: Sequence[str], dest: str, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: Any, ns: argparse.Namespace, values: Any, opt: Any = None) -> None:
        print(presets_text())
        parser.exit(0)


def add_preset_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        metavar="NAME",
        help="a paper's setting (sampling, prompt, search, budget; see --list-presets): "
        + ", ".join(PRESETS),
    )
    parser.add_argument("--list-presets", action=_ListPresets, help="list the presets and exit")


def _group(key: str) -> Group:
    return {**SEARCH_GROUPS, **POLICY_GROUPS, **NESTED}[key]


def apply_preset(args: argparse.Namespace) -> None:
    """Fill in what `--preset` sets and the user did not give; `args.search` and `args.budget`
    get the preset's, else the defaults."""
    preset = PRESETS[args.preset] if getattr(args, "preset", None) else None
    if preset is not None:
        given = _given(args)
        for key, values in preset.values.items():
            flags = {o.name: o.flag for o in options_of(_group(key))}
            for name, value in values.items():
                dest = f"{key}.{name}"
                if not hasattr(args, dest):
                    setattr(args, dest, value)
                    given[dest] = f"{flags[name]} {_show(value)} (from --preset {preset.name})"
    if getattr(args, "search", "") is None:
        args.search = preset.search if preset else DEFAULT_SEARCH
    if getattr(args, "budget", "") is None:
        args.budget = preset.budget if preset else DEFAULT_BUDGET


# ------------------------------------------------------------------------------------------------
# From options back to configs


def given_values(args: argparse.Namespace, key: str) -> dict[str, Any]:
    """field -> value of the options of group `key` that were given (or set by a preset)."""
    prefix = key + "."
    return {d[len(prefix) :]: v for d, v in vars(args).items() if d.startswith(prefix)}


def _flags(args: argparse.Namespace, key: str, names: Sequence[str] | None = None) -> list[str]:
    """The options (as typed) that set fields of group `key`, in command-line order."""
    prefix = key + "."
    out = [
        opt
        for d, opt in _given(args).items()
        if d.startswith(prefix) and (names is None or d[len(prefix) :] in names)
    ]
    return list(dict.fromkeys(out))


def _only_applies(wrong: Mapping[str, Sequence[str]]) -> UsageError:
    """One error for options given to configs that do not apply: {what applies: options}."""
    parts = []
    for what, flags in wrong.items():
        verb = "applies" if len(flags) == 1 else "apply"
        parts.append(f"{', '.join(flags)} only {verb} to {what}")
    return UsageError("; ".join(parts))


def _build(
    make: Callable[..., Any], values: Mapping[str, Any], args: argparse.Namespace, key: str
) -> Any:
    """`make(**values)`; a ValueError names the options it comes from: those whose value alone
    is rejected, else every given option of the group."""
    try:
        return make(**values)
    except (ValueError, TypeError) as exc:
        alone = []  # options whose value alone is rejected with the same message
        for name, value in values.items():
            try:
                make(**{name: value})
            except (ValueError, TypeError) as one:
                if str(one) == str(exc):
                    alone.append(name)
        flags = _flags(args, key, alone or list(values)) or [f"--{key} options"]
        raise UsageError(f"{', '.join(flags)}: {exc}") from None


def diff(obj: Any, default: Any) -> dict[str, Any]:
    """The fields of config `obj` that differ from `default`'s (nested configs as dicts of
    their differing fields), JSON-ready: what a run records."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        a, b = getattr(obj, f.name), getattr(default, f.name)
        if dataclasses.is_dataclass(a) and dataclasses.is_dataclass(b):
            sub = diff(a, b)
            if sub:
                out[f.name] = sub
        elif a != b:
            out[f.name] = str(a) if isinstance(a, Path) else a
    return out


@dataclass
class SearchOptions:
    search: Any  # the Search the options ask for
    config: Any  # its config
    # the config's fields that differ from the defaults, JSON-ready (`sampling`: a dict of the
    # sampling fields'): what a run records; `get_search(name, **options)` rebuilds the search
    options: dict[str, Any]


def build_sampling(args: argparse.Namespace, default: Any) -> Any:
    """The Sampling of the given sampling options over `default`."""
    return _build(
        lambda **kw: dataclasses.replace(default, **kw),
        given_values(args, "sampling"),
        args,
        "sampling",
    )


def build_search(args: argparse.Namespace) -> SearchOptions:
    """The search `args.search` names, configured by the given options (apply the preset first).
    UsageError for options of another search or values the config rejects."""
    import search

    if args.search not in SEARCH_GROUPS:
        raise UsageError(
            f"unknown search {args.search!r}; choose one of {', '.join(SEARCH_GROUPS)}"
        )
    # decomposition takes its subgoal search's options (--subgoal-search rmaxts: --concurrency)
    sub = given_values(args, "decompose").get("subgoal_search", "rmaxts")
    sub = sub if args.search == "decompose" else args.search
    wrong = {
        g.applies: _flags(args, k) for k, g in SEARCH_GROUPS.items() if k not in (args.search, sub)
    }
    if args.search != "rmaxts" and getattr(args, "tree_dir", None) is not None:
        wrong.setdefault("--search rmaxts", []).append(_given(args).get("tree_dir", "--tree-dir"))
    if any(wrong.values()):
        raise _only_applies({k: v for k, v in wrong.items() if v})
    cls = search.config_class(args.search)
    default = cls()
    values = given_values(args, args.search)
    values["sampling"] = build_sampling(args, default.sampling)
    if sub != args.search:
        values["subgoal_config"] = given_values(args, sub)
    fix_values = given_values(args, "correction")
    if hasattr(default, "correction"):
        values["correction"] = _build(
            lambda **kw: dataclasses.replace(default.correction, **kw),
            fix_values,
            args,
            "correction",
        )
    elif fix_values:
        raise _only_applies({CORRECTION.applies: _flags(args, "correction")})
    config = _build(cls, values, args, args.search)
    if args.search == "decompose" and not config.sketch_policy:
        raise UsageError("--search decompose needs --sketch-policy SPEC (e.g. replay:FILE.jsonl)")
    options = diff(config, default)
    # from the recorded options, as a harness rebuilds it from a run's config.json
    return SearchOptions(search.get_search(args.search, **options), config, options)


@dataclass
class PolicyOptions:
    config: Any  # the policy's config the options make (its constructor builds it again)
    # its fields that differ from the defaults, JSON-ready (`prompt`: a dict of the prompt
    # config's): the keyword arguments for `load_policy`, and what a run records
    options: dict[str, Any]


def build_policy(args: argparse.Namespace) -> PolicyOptions:
    """The policy config of `args.policy` made by the given policy and prompt options (and the
    preset's).  UsageError for options of another policy kind, prompt options for `automation`,
    or values the config rejects."""
    from prover.policy import config_class, parse_spec

    kind, spec_args = parse_spec(args.policy)
    wrong = {g.applies: _flags(args, k) for k, g in POLICY_GROUPS.items() if k != kind}
    cls = config_class(kind)
    prompt_values = given_values(args, "prompt")
    has_prompt = any(_nested(t) is PROMPT for t in _hints(cls).values())
    if prompt_values and not has_prompt:
        wrong[PROMPT.applies] = _flags(args, "prompt")
    if any(wrong.values()):
        raise _only_applies({k: v for k, v in wrong.items() if v})
    values = given_values(args, kind)
    required: dict[str, Any] = dict(zip(spec_fields(cls), spec_args, strict=True))
    if "base_url" in required:
        required["base_url"] = required["base_url"].rstrip("/")  # as OpenAIPolicy does
    if has_prompt:
        from prover.policy.prompts import PromptConfig

        required["prompt"] = PromptConfig()
        values["prompt"] = _build(PromptConfig, prompt_values, args, "prompt")
        path = values["prompt"].few_shot_path
        if path is not None and not Path(path).is_file():
            (flag,) = _flags(args, "prompt", ["few_shot_path"])
            raise UsageError(f"{flag}: {path} is not a file")
    config = _build(lambda **kw: cls(**{**required, **kw}), values, args, kind)
    return PolicyOptions(config, diff(config, cls(**required)))


def mixture_mode(args: argparse.Namespace) -> str | None:
    """The option that asked for the mixture prompt, or None."""
    if given_values(args, "prompt").get("mode") != "mixture":
        return None
    return _given(args).get("prompt.mode", "--prompt-mode mixture")


def check_mixture_runs(args: argparse.Namespace, runs: int) -> None:
    """The mixture prompt splits the runs in half between non-CoT and CoT (DeepSeek-Prover-V1.5's
    `(16 + 16) x 6400`): UsageError unless the budget has an even number of runs."""
    opt = mixture_mode(args)
    if opt is not None and runs % 2:
        raise UsageError(
            f"{opt}: the mixture prompt gives half of the runs to non-CoT and half to CoT "
            f"(DeepSeek-Prover-V1.5's (16 + 16) x 6400), but --budget {args.budget} has {runs} "
            f"run(s); use an even number of runs, e.g. --budget {runs + 1}x..."
        )


# ------------------------------------------------------------------------------------------------
# `prover prove` and `prover eval`


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The preset, search, sampling, prompt and policy options of `prove` and `eval` (`--search`
    and `--budget` themselves are the command's, with default None: see `apply_preset`)."""
    add_preset_options(parser)
    add_search_options(parser)
    add_policy_options(parser)


@dataclass
class RunOptions:
    budget: Any  # search.base.Budget
    search: SearchOptions
    policy: PolicyOptions


def resolve_run(args: argparse.Namespace) -> RunOptions:
    """Apply the preset, then build the budget, the search and the policy config the options
    ask for; UsageError (exit 2, before Lean starts) for anything wrong with them."""
    from search.base import Budget

    apply_preset(args)
    try:
        budget = Budget.parse(args.budget)
    except ValueError as exc:
        raise UsageError(f"--budget: {exc}") from None
    search = build_search(args)
    policy = build_policy(args)
    check_mixture_runs(args, budget.runs)
    return RunOptions(budget, search, policy)


def check_mixture_samples(args: argparse.Namespace, samples: int) -> None:
    """`collect`'s mixture prompt alternates modes over the sample index: UsageError unless the
    samples per problem split in half."""
    opt = mixture_mode(args)
    if opt is not None and samples % 2:
        raise UsageError(
            f"{opt}: the mixture prompt gives half of the samples to non-CoT and half to CoT "
            f"(even sample indices non-CoT, odd CoT), but --samples-per-problem is {samples}; "
            f"use an even number, e.g. {samples + 1}"
        )


def add_serve_options(parser: argparse.ArgumentParser) -> None:
    _add_group(parser, SERVE)


def build_serve(args: argparse.Namespace) -> Any:
    """The `ServeConfig` of `prover serve`'s options; UsageError naming a rejected option."""
    return _build(SERVE.cls(), given_values(args, "serve"), args, "serve")


# ------------------------------------------------------------------------------------------------
# Ray (`eval` and `collect`): benchmarks.distributed.RayConfig

RAY = Group("ray", "ray-", "Ray (--ray): problems as Ray tasks, Lean in checker actors", "--ray")


def add_ray_options(parser: argparse.ArgumentParser) -> None:
    """`--ray [ADDRESS]` and the `--ray-*` options of `RayConfig` (Ray is imported only when a
    run has `--ray`)."""
    group = _add_group(parser, RAY)
    group.add_argument(
        "--ray",
        nargs="?",
        const="",
        default=None,
        metavar="ADDRESS",
        help="run the problems as Ray tasks with Lean in checker actors, on the cluster at "
        "ADDRESS (HOST:6379 of `ray start --head`; without ADDRESS: the one `ray start` "
        "started on this machine, else a new local one); needs the `ray` extra",
    )


def build_ray(args: argparse.Namespace) -> Any:
    """The run's `RayConfig`, or None without `--ray` (a `--ray-*` option alone is an error)."""
    values = given_values(args, "ray")
    if getattr(args, "ray", None) is None:
        if values:
            raise _only_applies({"--ray": _flags(args, "ray")})
        return None
    from benchmarks.distributed import RayConfig

    return _build(lambda **kw: RayConfig(address=args.ray, **kw), values, args, "ray")
