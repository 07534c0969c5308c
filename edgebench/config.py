"""The experiment file: one YAML document, validated on load, unknown keys rejected.

Errors name the file, the field path and what was expected, one line per problem, e.g.
``runners/configs/x.yaml: federation.clients_per_round: must be <= num_clients (got 12 > 10)``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from edgebench.data.config import DataConfig
from edgebench.data.partition import PartitionConfig
from edgebench.devices.compute import COMPUTE_PATTERN
from edgebench.methods import get_method, method_names
from edgebench.methods.base import MethodParams, TrainSettings
from edgebench.models.config import ModelConfig
from edgebench.profiler.settings import ProfilerSettings
from edgebench.validation import Loc, ProblemsError, describe_validation
from edgebench.yamlfile import YamlFileError, format_loc, parse_yaml, read_yaml


class ConfigError(ProblemsError):
    """An experiment file failed validation; `problems` holds (field path, message) pairs."""


class FederationConfig(TrainSettings):
    """Round structure and local training (the optimizer fields come from TrainSettings).

    Exactly one of `local_steps` (optimizer steps per client per round) and `local_epochs`
    (passes over the client's data) is used; with neither, local_steps = 10.
    """

    num_clients: int = Field(10, ge=1)
    clients_per_round: int = Field(5, ge=1)
    rounds: int = Field(5, ge=1)
    local_steps: int | None = Field(None, ge=1)
    local_epochs: int | None = Field(None, ge=1)
    batch_size: int = Field(16, ge=1)
    max_seq_len: int = Field(128, ge=8)
    eval_every: int = Field(1, ge=1)
    eval_batch_size: int = Field(64, ge=1)
    wire_dtype: Literal["float32", "float16", "bfloat16"] = "float32"

    @model_validator(mode="after")
    def _default_local_steps(self) -> FederationConfig:
        if self.local_steps is None and self.local_epochs is None:
            self.local_steps = 10
        return self


class ProfilerConfig(ProfilerSettings):
    """What to measure and with which meters; every field is documented on
    :class:`edgebench.profiler.settings.ProfilerSettings` and in docs/measurement.md."""


class DeviceConfig(BaseModel):
    """`name`: device profile (`auto` = detect this host; a profile name from `edgebench devices`, or a
    profile .yaml path, relative to the experiment file's folder like `data.path`, made absolute on load);
    `torch_threads`: intra-op threads (default: the profile's, else torch's)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "auto"
    torch_threads: int | None = Field(None, ge=1)

    @field_validator("name")
    @classmethod
    def _known_profile(cls, value: str, info: ValidationInfo) -> str:
        if value != "auto":
            from edgebench.devices.profiles import ProfileError, get_profile

            value = _profile_path(value, (info.context or {}).get("config_dir"))
            try:
                get_profile(value)
            except ProfileError as exc:
                detail = "; ".join(m for _, m in exc.problems) if exc.source == "device" else str(exc)
                raise ValueError(detail) from None
        return value


def _profile_path(value: str, config_dir: Path | None) -> str:
    """`device.name` made absolute against the experiment file's folder when it is a profile file path;
    profile names, and paths given without a config file (--device), pass through."""
    from edgebench.devices.profiles import is_profile_path

    if config_dir is None or not is_profile_path(value):
        return value
    path = Path(value).expanduser()
    return str(path) if path.is_absolute() else os.path.abspath(Path(config_dir) / path)


class ComputeConfig(BaseModel):
    """Where clients train and at which precision (docs/measurement.md, "Compute device and precision").

    `device`: `auto` (the device profile's pinned device, else CUDA, else Apple MPS, else CPU), `cpu`,
    `cuda`, `cuda:N` or `mps`. `precision`: autocast of forward passes, `profile` = the device profile's
    `torch.dtype` when training on the device the profile is for (float32 elsewhere). `backbone_dtype`:
    store the frozen backbone in half precision (must equal `precision`). Separate from
    `federation.wire_dtype`, which only changes what travels."""

    model_config = ConfigDict(extra="forbid")

    device: str = "auto"
    precision: Literal["profile", "float32", "bfloat16", "float16"] = "profile"
    backbone_dtype: Literal["float32", "bfloat16", "float16"] = "float32"

    @field_validator("device")
    @classmethod
    def _known_device(cls, value: str) -> str:
        if not re.fullmatch(COMPUTE_PATTERN, value):
            raise ValueError("expected auto, cpu, cuda, cuda:N or mps")
        return value


class SimulationConfig(BaseModel):
    """Flower's simulation runtime (`edgebench run CONFIG --engine flower-sim`, docs/flower.md): one virtual
    SuperNode per client, each ClientApp run by a Ray actor holding `client_num_cpus` CPUs and
    `client_num_gpus` GPUs (fractions share a GPU); `ray_init` goes to `ray.init` (e.g. `address: auto` to
    join a running Ray cluster, `num_cpus` to cap what a local Ray uses)."""

    model_config = ConfigDict(extra="forbid")

    client_num_cpus: float = Field(1.0, gt=0)
    client_num_gpus: float = Field(0.0, ge=0)
    ray_init: dict[str, str | int | float | bool] = Field(default_factory=dict)


class RuntimeConfig(BaseModel):
    """Runners on Flower (docs/flower.md; the in-process engine ignores this section). A round needs
    `min_replies` usable replies (fewer fails the run, which resumes from its last checkpoint); replies
    missing after `round_timeout_s` are dropouts; the server waits up to `wait_for_nodes_s` at start for a
    SuperNode per client (`federation.num_clients`)."""

    model_config = ConfigDict(extra="forbid")

    min_replies: int = Field(1, ge=1)
    round_timeout_s: float = Field(600.0, gt=0)
    wait_for_nodes_s: float = Field(300.0, ge=0)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)


class OutputConfig(BaseModel):
    """Run directories go under `dir` (relative to the working directory) as `name` or `<stem>-<time>`."""

    model_config = ConfigDict(extra="forbid")

    dir: str = "runs"
    name: str | None = None
    checkpoint: bool = True


class MethodEntry(BaseModel):
    """One method to run: its registry name, an optional unique label, its own learning rate (`lr`, else
    `federation.lr`; e.g. one tuned per method, benchmarks/lr_tuning.py) and its parameters."""

    model_config = ConfigDict(extra="allow")

    method: str
    name: str | None = None
    lr: float | None = Field(None, gt=0)
    _params: MethodParams | None = PrivateAttr(default=None)

    @property
    def label(self) -> str:
        return self.name or self.method

    @property
    def params(self) -> MethodParams:
        assert self._params is not None, "params are resolved by load_config"
        return self._params

    def raw_params(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class ExperimentConfig(BaseModel):
    """A whole experiment: what to train, on which data, how to federate, what to measure."""

    model_config = ConfigDict(extra="forbid")

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    partition: PartitionConfig = Field(default_factory=PartitionConfig)
    federation: FederationConfig = Field(default_factory=FederationConfig)
    methods: list[MethodEntry] = Field(min_length=1)
    profiler: ProfilerConfig = Field(default_factory=ProfilerConfig)
    device: DeviceConfig = Field(default_factory=DeviceConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    output: OutputConfig = Field(default_factory=OutputConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    seed: int = 0
    _source: Path | None = PrivateAttr(default=None)

    @property
    def source(self) -> Path | None:
        """The file this config was loaded from (relative data paths resolve against its folder)."""
        return self._source

    def as_dict(self) -> dict[str, Any]:
        """The config as loaded, with defaults filled and method params resolved (JSON-safe)."""
        out = self.model_dump(mode="json", exclude={"methods"})
        out["methods"] = [
            # `lr` only when set, so that the hash of a config without per-method rates is unchanged
            {"method": m.method, "name": m.label, **({"lr": m.lr} if m.lr is not None else {})}
            | m.params.model_dump(mode="json")
            for m in self.methods
        ]
        return out

    def train_settings(self, label: str) -> FederationConfig:
        """The local-training settings of the method labelled `label`: `federation` with the method's own
        `lr` when it sets one (KeyError for an unknown label)."""
        entry = next((m for m in self.methods if m.label == label), None)
        if entry is None:
            raise KeyError(label)
        if entry.lr is None:
            return self.federation
        return self.federation.model_copy(update={"lr": entry.lr})

    def hash(self) -> str:
        """sha256 of the canonical JSON of :meth:`as_dict`."""
        text = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def override(self, section: str, values: dict[str, Any], flag: str) -> ExperimentConfig:
        """A copy with `values` set in `section` (validated: a bad value is a ConfigError naming `flag`)."""
        model = type(getattr(self, section))
        try:
            updated = model.model_validate({**getattr(self, section).model_dump(), **values})
        except ValidationError as exc:
            error = exc.errors()[0]
            message = error["msg"].replace("Value error, ", "")
            got = repr(error.get("input"))
            if got not in message:
                message += f" (got {got})"
            raise ConfigError(str(self._source), [(flag, message)]) from None
        clone = self.model_copy(update={section: updated})
        clone._source = self._source
        return clone

    def select_methods(self, labels: list[str]) -> ExperimentConfig:
        """A copy keeping only the methods whose label is in `labels` (order of the file)."""
        known = [m.label for m in self.methods]
        unknown = [x for x in labels if x not in known]
        if unknown:
            raise ConfigError(str(self._source), [("methods", f"no method labelled {unknown[0]!r}; have {known}")])
        clone = self.model_copy(update={"methods": [m for m in self.methods if m.label in labels]})
        clone._source = self._source
        return clone


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentConfig:
    """Read and validate an experiment file, with `overrides` (``KEY.PATH=VALUE`` strings, the CLI's
    ``--set``) applied to the document first; raise one ConfigError listing every problem."""
    source = Path(path)
    try:
        raw = read_yaml(source)
    except YamlFileError as exc:
        raise ConfigError(str(source), [("", exc.problem)]) from None
    if not overrides:
        return parse_config(raw, source)
    raw = apply_overrides(raw, overrides, source)
    try:
        return parse_config(raw, source)
    except ConfigError as exc:
        raise ConfigError(str(source), _attribute_to_overrides(exc.problems, overrides)) from None


def apply_overrides(raw: Any, overrides: Sequence[str], source: Path) -> Any:
    """A copy of the document `raw` with each ``KEY.PATH=VALUE`` of `overrides` set, in order.

    KEY.PATH names mapping keys and list indices with dots (``methods.0.r0``); a missing mapping on the
    way is created (the result is validated as a file would be, so an unknown key is still rejected);
    VALUE is read as YAML (``3``, ``0.01``, ``true``, ``null``, ``[query, value]``). A malformed item, an
    index past a list's end or a path through a plain value raises ConfigError naming the key path.
    """
    if not isinstance(raw, dict):
        return raw  # parse_config reports a document that is not a mapping
    doc = copy.deepcopy(raw)
    problems: list[tuple[str, str]] = []
    for item in overrides:
        key, sep, text = item.partition("=")
        parts = key.strip().split(".")
        if not sep or not all(p.strip() for p in parts):
            problems.append(("", f"--set {item!r}: expected KEY.PATH=VALUE, e.g. --set federation.rounds=3"))
            continue
        try:
            value = parse_yaml(text)
        except YamlFileError as exc:
            first_line = exc.problem.splitlines()[0]  # the rest draws the parser's position in the value
            problems.append((_dotted_to_loc(parts), f"--set value {text!r} is {first_line}"))
            continue
        problem = _set_path(doc, [p.strip() for p in parts], value)
        if problem is not None:
            problems.append((problem[0], f"{problem[1]} (--set {item})"))
    if problems:
        raise ConfigError(str(source), problems)
    return doc


def _set_path(doc: dict[str, Any], parts: list[str], value: Any) -> tuple[str, str] | None:
    """Set `value` at `parts` inside `doc`; (path, problem) when the path cannot exist."""
    node: Any = doc
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        here = _dotted_to_loc(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit():
                return here, f"{_dotted_to_loc(parts[:depth])} is a list: name an entry by its index, e.g. 0"
            index = int(part)
            if index >= len(node):
                return here, f"no entry {index}: {_dotted_to_loc(parts[:depth])} has {len(node)} (0..{len(node) - 1})"
            key: Any = index
        elif isinstance(node, dict):
            key = part
            if not last and node.get(key) is None:
                node[key] = {}
        else:
            where = _dotted_to_loc(parts[:depth])
            return here, f"{where} is a value ({node!r}), not a section"
        if last:
            node[key] = value
        else:
            node = node[key]
    return None


def _dotted_to_loc(parts: Sequence[str]) -> str:
    """``['methods', '0', 'r0']`` -> ``methods[0].r0``, the form of every error's field path."""
    return format_loc([int(p) if p.isdigit() else p for p in parts])


def _attribute_to_overrides(problems: list[tuple[str, str]], overrides: Sequence[str]) -> list[tuple[str, str]]:
    """Each problem at or under an overridden path, with the ``--set`` item that put the value there."""
    paths = [(_dotted_to_loc(item.partition("=")[0].strip().split(".")), item) for item in overrides]
    out = []
    for path, message in problems:
        given = [item for loc, item in paths if path == loc or path.startswith((loc + ".", loc + "["))]
        out.append((path, f"{message} (--set {given[-1]})" if given else message))
    return out


def parse_config(raw: Any, source: Path) -> ExperimentConfig:
    """Validate an already-parsed document (see :func:`load_config`)."""
    if not isinstance(raw, dict):
        raise ConfigError(
            str(source), [("", f"expected a mapping of sections at top level (got {type(raw).__name__})")]
        )
    problems: list[tuple[str, str]] = []
    try:
        config = ExperimentConfig.model_validate(raw, context={"config_dir": source.parent})
    except ValidationError as exc:
        problems.extend(describe_validation(exc, ExperimentConfig))
        config = None
    problems.extend(_resolve_method_params(raw.get("methods"), config))
    if config is not None:
        problems.extend(_cross_field_problems(config))
    if problems:
        raise ConfigError(str(source), problems)
    assert config is not None
    config._source = source
    return config


def _resolve_method_params(raw_methods: Any, config: ExperimentConfig | None) -> list[tuple[str, str]]:
    if config is None or not isinstance(raw_methods, list):
        return []
    problems: list[tuple[str, str]] = []
    for i, entry in enumerate(config.methods):
        loc: Loc = ("methods", i)
        try:
            spec = get_method(entry.method)
        except KeyError:
            problems.append(
                (
                    format_loc((*loc, "method")),
                    f"unknown method {entry.method!r}; expected one of: {', '.join(method_names())}",
                )
            )
            continue
        try:
            entry._params = spec.params_model.model_validate(entry.raw_params())
        except ValidationError as exc:
            problems.extend(describe_validation(exc, spec.params_model, loc, extra_allowed=("method", "name", "lr")))
    return problems


def _cross_field_problems(config: ExperimentConfig) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    fed = config.federation
    if fed.clients_per_round > fed.num_clients:
        problems.append(
            (
                "federation.clients_per_round",
                f"must be <= num_clients (got {fed.clients_per_round} > {fed.num_clients})",
            )
        )
    if fed.local_steps is not None and fed.local_epochs is not None:
        problems.append(("federation.local_epochs", "set either local_steps or local_epochs, not both"))
    if config.runtime.min_replies > fed.clients_per_round:
        problems.append(
            (
                "runtime.min_replies",
                f"must be <= federation.clients_per_round (got {config.runtime.min_replies} > {fed.clients_per_round})",
            )
        )
    compute = config.compute
    if compute.backbone_dtype != "float32" and compute.precision != compute.backbone_dtype:
        problems.append(
            (
                "compute.backbone_dtype",
                f"a {compute.backbone_dtype} backbone needs compute.precision: {compute.backbone_dtype} "
                f"(got {compute.precision})",
            )
        )
    for i, entry in enumerate(config.methods):
        if entry._params is not None:
            for field_name, message in entry.params.problems_for_run(fed.rounds, fed.local_steps):
                problems.append((f"methods[{i}].{field_name}", message))
    labels = [m.label for m in config.methods]
    for i, label in enumerate(labels):
        if label in labels[:i]:
            problems.append((f"methods[{i}].name", f"labels must be unique; {label!r} is used twice"))
    return problems
