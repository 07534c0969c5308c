"""Device profiles: one YAML file per device class (``device_profiles/*.yaml``), validated on load.

A profile says how to recognise the device, which meters to try in order, the rail map and its scope,
the sampling rate, idle power if known, the maximum plausible power, watts per busy core for estimates,
a memory budget, torch defaults and a network link model. Unknown keys are rejected and every error
names the file and field.

Profiles are found in ``$EDGEBENCH_PROFILES_DIR`` if set, else next to this module
(``edgebench/devices/device_profiles``, package data: a link to the top-level ``device_profiles/``), else
the checkout's ``device_profiles/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from edgebench.meters.jetson import check_total_rails
from edgebench.meters.registry import METER_NAMES
from edgebench.yamlfile import YamlFileError, format_loc, read_yaml

PROFILES_ENV = "EDGEBENCH_PROFILES_DIR"
_PACKAGE_DIR = Path(__file__).resolve().parent / "device_profiles"
_CHECKOUT_DIR = Path(__file__).resolve().parent.parent.parent / "device_profiles"


class ProfileError(ValueError):
    """A profile file failed validation; the message has one ``file: field: problem`` line per problem."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}: {m}" if p else f"{source}: {m}" for p, m in problems))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def parse_meter_choice(value: str) -> tuple[list[str], list[str]]:
    """A meter-chain entry as (meters whose totals are added, meters reported beside that total).

    ``a``: one meter. ``a+b``: the sum of a and b (GPU board + CPU package). ``a&c``: a's total, with c
    measured over the same windows and reported beside it, never added (a laptop's measured GPU with its
    CPU share estimated). ``a+b&c&d`` combines both. A sum with ``estimate`` in it is labelled
    ``estimated`` as a whole: list one only when you want that sum.
    """
    total, *beside = value.split("&")
    return total.split("+"), beside


def _check_meter_choice(value: str) -> str:
    total, beside = parse_meter_choice(value)
    for part in [*total, *beside]:
        if part not in METER_NAMES:
            raise ValueError(f"unknown meter {part!r}; expected one of: {', '.join(METER_NAMES)}")
    names = [*total, *beside]
    if len(set(names)) != len(names):
        raise ValueError(f"meter listed twice in {value!r}")
    return value


#: A meter-chain entry (see :func:`parse_meter_choice`): ``nvml``, ``nvml+rapl`` (summed), ``nvml&estimate``
#: (the estimate reported beside the measured total, not added).
MeterChoice = Annotated[str, AfterValidator(_check_meter_choice)]


class DetectRules(_Strict):
    """How to recognise the device. Every rule given must hold; the matching profile with the highest
    `priority` wins; a `fallback` profile is used when none matches."""

    device_tree_model: list[str] = Field(default_factory=list, description="any of these substrings")
    device_tree_compatible: list[str] = Field(default_factory=list, description="any entry containing any of these")
    machine: list[str] = Field(default_factory=list, description="platform.machine() is one of these")
    nvidia_pci_gpu: bool | None = Field(None, description="an NVIDIA display controller on PCI (or none)")
    priority: int = 0
    fallback: bool = False


class RailMap(_Strict):
    """`total`: rails whose sum is the device total (null: unknown board, raw rails); `components`: rails
    inside the total, reported but never added; `scope`: what the total covers.

    A total that would count power twice (an input rail with its components, a rail with one nested in
    it) is rejected (:func:`edgebench.meters.jetson.check_total_rails`)."""

    total: list[str] | None = None
    components: list[str] = Field(default_factory=list)
    scope: str

    @model_validator(mode="after")
    def _no_double_counting(self) -> RailMap:
        if self.total:
            check_total_rails(self.total)
            both = [r for r in self.total if r in self.components]
            if both:
                raise ValueError(f"{both[0]} is listed in both total and components")
        return self


class RaplDomains(_Strict):
    domains: list[Literal["package", "core", "uncore", "dram", "psys"]] = Field(default_factory=lambda: ["package"])


class Sampling(_Strict):
    """`rate_hz`: sampler rate for power-only sensors; `sensor_update_interval_s`: how often the sensor
    refreshes (windows shorter than 10x this are flagged)."""

    rate_hz: float = Field(gt=0, le=1000)
    sensor_update_interval_s: float | None = Field(None, gt=0)


class EstimateBasis(_Strict):
    """Watts per busy core for the CPU-time estimate, and where that number comes from."""

    per_core_w: float | None = Field(None, gt=0)
    source: str = ""


class MemoryDefaults(_Strict):
    """`budget_mib`: memory a run may use (None: the host's); `track_meminfo`: record MemAvailable minimum
    and NvMapMemUsed peak per window (unified-memory boards)."""

    budget_mib: int | None = Field(None, gt=0)
    track_meminfo: bool = False


class TorchDefaults(_Strict):
    """`threads`: intra-op threads; `dtype`: the class's training precision (autocast; float32 = off);
    `device`: the compute device when the class has one obvious answer (a Jetson's GPU, a Pi's CPU)."""

    threads: int | None = Field(None, ge=1)
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    device: Literal["cpu", "cuda", "mps"] | None = None


class LinkModel(_Strict):
    """Network link used to *estimate* communication time and energy (never measured)."""

    name: str
    uplink_mbit_s: float = Field(gt=0)
    downlink_mbit_s: float = Field(gt=0)
    latency_s: float = Field(0.0, ge=0)
    energy_per_byte_j: float | None = Field(None, ge=0)
    tx_power_w: float | None = Field(None, ge=0)
    rx_power_w: float | None = Field(None, ge=0)
    source: str = ""

    @model_validator(mode="after")
    def _one_energy_basis(self) -> LinkModel:
        if self.energy_per_byte_j is not None and (self.tx_power_w is not None or self.rx_power_w is not None):
            raise ValueError("give either energy_per_byte_j or tx_power_w/rx_power_w, not both")
        if (self.tx_power_w is None) != (self.rx_power_w is None):
            raise ValueError("give both tx_power_w and rx_power_w")
        return self


class DeviceProfile(_Strict):
    """One device class. See device_profiles/README.md for every field."""

    name: str
    description: str
    detect: DetectRules
    meters: list[MeterChoice] = Field(min_length=1)
    rails: RailMap | None = None
    rapl: RaplDomains = Field(default_factory=RaplDomains)
    sampling: Sampling
    idle_power_w: float | None = Field(None, ge=0)
    #: The most the metered scope of this device class can draw (a generous bound, not a rating): power
    #: readings above it, and counter steps implying more, are implausible (docs/measurement.md).
    max_power_w: float = Field(gt=0)
    estimate: EstimateBasis = Field(default_factory=EstimateBasis)
    memory: MemoryDefaults = Field(default_factory=MemoryDefaults)
    torch: TorchDefaults = Field(default_factory=TorchDefaults)
    network: LinkModel
    _source_file: str | None = PrivateAttr(default=None)

    @property
    def source_file(self) -> str | None:
        """The YAML file this profile was loaded from."""
        return self._source_file


def profiles_dir() -> Path:
    """The folder profiles are loaded from (see module docstring)."""
    env = os.environ.get(PROFILES_ENV)
    if env:
        return Path(env)
    if _PACKAGE_DIR.is_dir() and any(_PACKAGE_DIR.glob("*.yaml")):
        return _PACKAGE_DIR
    return _CHECKOUT_DIR


def load_profile_file(path: str | Path) -> DeviceProfile:
    """Read and validate one profile; :class:`ProfileError` lists every problem with its field."""
    path = Path(path)
    try:
        raw = read_yaml(path)
    except YamlFileError as exc:
        raise ProfileError(str(path), [("", exc.problem)]) from None
    if not isinstance(raw, dict):
        raise ProfileError(str(path), [("", f"expected a mapping at top level (got {type(raw).__name__})")])
    try:
        profile = DeviceProfile.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].replace("Value error, ", "")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            elif err["type"] != "missing":
                msg += f" (got {err['input']!r})"
            problems.append((format_loc(tuple(err["loc"])), msg))
        raise ProfileError(str(path), problems) from None
    if profile.name != path.stem:
        raise ProfileError(str(path), [("name", f"must match the file name {path.stem!r} (got {profile.name!r})")])
    profile._source_file = str(path)
    return profile


def load_profiles(folder: Path | None = None) -> dict[str, DeviceProfile]:
    """Every profile in `folder` (default :func:`profiles_dir`), by name."""
    folder = folder or profiles_dir()
    return {p.stem: load_profile_file(p) for p in sorted(folder.glob("*.yaml"))}


def profile_names(folder: Path | None = None) -> list[str]:
    """Names of the available profiles (file stems), without validating them."""
    return sorted(p.stem for p in (folder or profiles_dir()).glob("*.yaml"))


def is_profile_path(name_or_path: str) -> bool:
    """Whether `name_or_path` names a profile file (a .yaml path) rather than a shipped profile."""
    return name_or_path.endswith((".yaml", ".yml")) or os.sep in name_or_path


def get_profile(name_or_path: str, folder: Path | None = None) -> DeviceProfile:
    """A profile by name, or from a YAML file path (for boards without a shipped profile)."""
    if is_profile_path(name_or_path):
        return load_profile_file(name_or_path)
    folder = folder or profiles_dir()
    path = folder / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(profile_names(folder))
        message = f"unknown device profile {name_or_path!r}; expected auto, a .yaml path or one of: {known}"
        raise ProfileError("device", [("name", message)])
    return load_profile_file(path)
