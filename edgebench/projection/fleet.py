"""The fleet file: which devices, how many, over which links, how often online, and how rounds select.

One YAML document, validated on load (pydantic; unknown keys and keys given twice rejected); every error
names the file, the field and what was expected. The model, every field and its defaults are described
in docs/projection.md; `runners/fleets/mixed-edge.yaml` is a commented example.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)

from edgebench.devices.profiles import DeviceProfile, ProfileError, get_profile, is_profile_path
from edgebench.projection.errors import Problem, ProjectionError, describe_validation
from edgebench.yamlfile import YamlFileError, read_yaml

#: Shares must sum to 1 within this tolerance.
SHARE_TOLERANCE = 1e-6
#: Bounds that keep a projection within memory and time (per-client links are arrays of the fleet's size).
MAX_CLIENTS, MAX_ROUNDS = 100_000_000, 1_000_000


class _Strict(BaseModel):
    # every number in a fleet file must be finite: an infinite deadline, rate or factor is a mistake
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _number_as_fixed(value: Any) -> Any:
    """A plain number in the file means `{fixed: number}`; mappings pass through; anything else is refused."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a mapping (got {value!r})")
    if isinstance(value, (int, float)):
        return {"fixed": value}
    if isinstance(value, dict):
        return value
    raise ValueError(f"expected a number or a mapping (got {value!r})")


class LogNormal(_Strict):
    """Log-normal across clients: half the clients are below `median`; `sigma` is the log-space spread."""

    median: float = Field(gt=0)
    sigma: float = Field(ge=0)


class Uniform(_Strict):
    low: float = Field(ge=0)
    high: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError(f"high must be >= low (got low {self.low:g}, high {self.high:g})")
        return self


class Spread(_Strict):
    """A per-client value: a plain number (`fixed`), or drawn once per client from `lognormal` or `uniform`."""

    fixed: float | None = Field(None, ge=0)
    lognormal: LogNormal | None = None
    uniform: Uniform | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Spread:
        given = [k for k in ("fixed", "lognormal", "uniform") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give a number, or exactly one of lognormal, uniform (got {', '.join(given) or 'none'})")
        return self

    def describe(self, unit: str) -> str:
        if self.fixed is not None:
            return f"{self.fixed:g} {unit}"
        if self.lognormal is not None:
            return f"lognormal (median {self.lognormal.median:g} {unit}, sigma {self.lognormal.sigma:g})"
        assert self.uniform is not None
        return f"uniform [{self.uniform.low:g}, {self.uniform.high:g}] {unit}"


class Rate(Spread):
    """A link rate in Mbit/s: every value must be positive."""

    @model_validator(mode="after")
    def _positive(self) -> Rate:
        low = self.fixed if self.fixed is not None else self.uniform.low if self.uniform is not None else None
        if low is not None and low <= 0:
            raise ValueError(f"a rate must be greater than 0 (got {low:g})")
        return self


RateSpec = Annotated[Rate, BeforeValidator(_number_as_fixed)]
DelaySpec = Annotated[Spread, BeforeValidator(_number_as_fixed)]


class LinkSpec(_Strict):
    """The class's network link. Every key left out comes from the class's device profile `network`.
    Giving `tx_power_w`/`rx_power_w` or `energy_per_byte_j` here replaces the profile's radio energy basis."""

    uplink_mbit_s: RateSpec | None = None
    downlink_mbit_s: RateSpec | None = None
    latency_s: DelaySpec | None = None
    tx_power_w: float | None = Field(None, ge=0)
    rx_power_w: float | None = Field(None, ge=0)
    energy_per_byte_j: float | None = Field(None, ge=0)
    source: str = ""

    @model_validator(mode="after")
    def _one_energy_basis(self) -> LinkSpec:
        if self.energy_per_byte_j is not None and (self.tx_power_w is not None or self.rx_power_w is not None):
            raise ValueError("give either energy_per_byte_j or tx_power_w/rx_power_w, not both")
        if (self.tx_power_w is None) != (self.rx_power_w is None):
            raise ValueError("give both tx_power_w and rx_power_w")
        return self


class Daily(_Strict):
    """Online probability over the day: `high` at `peak_hour`, `low` twelve hours later (a cosine)."""

    low: float = Field(ge=0, le=1)
    high: float = Field(ge=0, le=1)
    peak_hour: float = Field(20.0, ge=0, lt=24)

    @model_validator(mode="after")
    def _ordered(self) -> Daily:
        if self.high < self.low:
            raise ValueError(f"high must be >= low (got low {self.low:g}, high {self.high:g})")
        return self


class Availability(_Strict):
    """The probability that a client is online in a round: a plain number in [0, 1] or `daily`."""

    fixed: float | None = Field(None, ge=0, le=1)
    daily: Daily | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Availability:
        if (self.fixed is None) == (self.daily is None):
            raise ValueError("give a number in [0, 1] or {daily: {low, high, peak_hour}}")
        return self

    def at_hour(self, hour: float) -> float:
        """The online probability at `hour` (hours since midnight, any real number)."""
        if self.daily is None:
            assert self.fixed is not None
            return self.fixed
        d = self.daily
        return d.low + (d.high - d.low) * 0.5 * (1.0 + math.cos(2 * math.pi * (hour - d.peak_hour) / 24.0))

    def describe(self) -> str:
        if self.daily is None:
            return f"{self.fixed:g}"
        d = self.daily
        return f"daily cosine {d.low:g} .. {d.high:g} (peak at {d.peak_hour:g} h)"


AvailabilitySpec = Annotated[Availability, BeforeValidator(_number_as_fixed)]


class CostSpec(_Strict):
    """Where a class's per-client costs come from: `measured: PROFILE` (the clients measured on that device
    profile in the runs given), or `scaled_from: CLASS` (another class's measurements times `time_factor`
    for compute time, `time_factor x power_factor` for energy, `memory_factor` for peak memory, with the
    `source` of those factors written down)."""

    measured: str | None = None
    scaled_from: str | None = None
    time_factor: float | None = Field(None, gt=0)
    power_factor: float | None = Field(None, gt=0)
    memory_factor: float = Field(1.0, gt=0)
    source: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> CostSpec:
        if (self.measured is None) == (self.scaled_from is None):
            raise ValueError("give either measured: PROFILE or scaled_from: CLASS")
        if self.measured is not None:
            if self.time_factor is not None or self.power_factor is not None or self.memory_factor != 1.0:
                raise ValueError("factors apply to scaled_from only (measured costs are used as measured)")
        else:
            missing = [k for k in ("time_factor", "power_factor") if getattr(self, k) is None]
            if missing or not self.source.strip():
                need = [*missing, *([] if self.source.strip() else ["source"])]
                raise ValueError(f"scaled_from needs {', '.join(need)} (the factors and where they come from)")
        return self

    @property
    def scaled(self) -> bool:
        return self.scaled_from is not None


class ClassSpec(_Strict):
    """One device class of the fleet."""

    name: str = Field(min_length=1)
    profile: str = Field(min_length=1, description="device profile: link and idle-power defaults")
    share: float | None = Field(None, ge=0, le=1)
    count: int | None = Field(None, ge=0, le=MAX_CLIENTS)
    cost: CostSpec
    link: LinkSpec = Field(default_factory=LinkSpec)
    idle_power_w: float | None = Field(None, ge=0)
    idle_source: str = ""
    availability: AvailabilitySpec | None = None


class SelectionSpec(_Strict):
    """How a round selects clients. `random`: ceil(clients_per_round x over_selection) online clients,
    uniformly; the round closes when `clients_per_round` replies are in, or at `deadline_s`; it is aggregated
    only with at least `min_replies` replies. `replay`: every round selects the measured run's own clients."""

    scheme: Literal["random", "replay"] = "random"
    clients_per_round: int | None = Field(None, ge=1)
    over_selection: float = Field(1.0, ge=1)
    deadline_s: float | None = Field(None, gt=0)
    min_replies: int = Field(1, ge=1)


class FleetSpec(_Strict):
    """The whole fleet file (docs/projection.md)."""

    name: str = ""
    clients: int | None = Field(None, ge=1, le=MAX_CLIENTS)
    seed: int = Field(0, ge=0)
    rounds: int | None = Field(None, ge=1, le=MAX_ROUNDS)
    methods: list[str] | None = Field(None, min_length=1)
    target_accuracy: float | None = Field(None, ge=0, le=1)
    server_s: float = Field(0.0, ge=0)
    start_hour: float = Field(0.0, ge=0, lt=24)
    availability: AvailabilitySpec = Field(default_factory=lambda: Availability(fixed=1.0))
    selection: SelectionSpec
    classes: list[ClassSpec] = Field(min_length=1)
    _source: Path | None = PrivateAttr(default=None)
    _profiles: dict[str, DeviceProfile] = PrivateAttr(default_factory=dict)
    _counts: list[int] = PrivateAttr(default_factory=list)

    @property
    def source(self) -> str:
        return str(self._source) if self._source is not None else "<fleet>"

    def profile_of(self, cls: ClassSpec) -> DeviceProfile:
        """The device profile a class names (loaded on validation)."""
        return self._profiles[cls.name]

    @property
    def counts(self) -> list[int]:
        """Clients per class, in class order (shares rounded by largest remainder, summing to the fleet size)."""
        return list(self._counts)

    def availability_of(self, cls: ClassSpec) -> Availability:
        return cls.availability if cls.availability is not None else self.availability

    def class_named(self, name: str) -> ClassSpec:
        return next(c for c in self.classes if c.name == name)

    def error(self, field: str, message: str) -> ProjectionError:
        """An error about `field` of this fleet file."""
        return ProjectionError(self.source, [(field, message)])


def load_fleet(path: str | Path) -> FleetSpec:
    """Read and validate a fleet file; one ProjectionError lists every problem."""
    source = Path(path)
    try:
        raw = read_yaml(source)
    except YamlFileError as exc:
        raise ProjectionError(str(source), [("", exc.problem)]) from None
    return parse_fleet(raw, source)


def parse_fleet(raw: Any, source: Path) -> FleetSpec:
    """Validate a parsed fleet document; `source` names it in errors and anchors relative profile paths."""
    if not isinstance(raw, dict):
        raise ProjectionError(str(source), [("", f"expected a mapping at top level (got {type(raw).__name__})")])
    try:
        fleet = FleetSpec.model_validate(raw)
    except ValidationError as exc:
        raise ProjectionError(str(source), describe_validation(exc, FleetSpec)) from None
    fleet._source = source
    problems = _cross_field_problems(fleet)
    problems += _load_profiles(fleet, source.parent)
    if problems:
        raise ProjectionError(str(source), problems)
    fleet._counts = _class_counts(fleet)
    return fleet


def _cross_field_problems(fleet: FleetSpec) -> list[Problem]:
    problems: list[Problem] = []
    names = [c.name for c in fleet.classes]
    for i, name in enumerate(names):
        if name in names[:i]:
            problems.append((f"classes[{i}].name", f"class {name!r} is named twice"))
    problems += _size_problems(fleet)
    by_name = {c.name: c for c in fleet.classes}
    for i, cls in enumerate(fleet.classes):
        ref = cls.cost.scaled_from
        if ref is None:
            continue
        target = by_name.get(ref)
        if target is None:
            problems.append((f"classes[{i}].cost.scaled_from", f"no class named {ref!r}; have {', '.join(names)}"))
        elif target.cost.measured is None:
            problems.append(
                (f"classes[{i}].cost.scaled_from", f"class {ref!r} is itself scaled; scale from a measured class")
            )
    sel = fleet.selection
    if sel.scheme == "random":
        size = fleet.clients if fleet.clients is not None else sum(c.count or 0 for c in fleet.classes)
        if sel.clients_per_round is None:
            problems.append(("selection.clients_per_round", "required field is missing (scheme random)"))
        elif sel.clients_per_round > size > 0:
            problems.append(
                ("selection.clients_per_round", f"must be <= the fleet's {size} clients (got {sel.clients_per_round})")
            )
        elif sel.min_replies > sel.clients_per_round:
            problems.append(
                (
                    "selection.min_replies",
                    f"must be <= clients_per_round (got {sel.min_replies} > {sel.clients_per_round})",
                )
            )
    else:
        problems += _replay_problems(fleet)
    return problems


def _size_problems(fleet: FleetSpec) -> list[Problem]:
    problems: list[Problem] = []
    for i, cls in enumerate(fleet.classes):
        if (cls.share is None) == (cls.count is None):
            problems.append((f"classes[{i}]", "give exactly one of share, count"))
    if problems:
        return problems
    with_share = [c.share is not None for c in fleet.classes]
    if any(with_share) and not all(with_share):
        first = with_share.index(not with_share[0])
        return [(f"classes[{first}]", "give share in every class or count in every class, not both kinds")]
    if all(with_share):
        total = sum(c.share or 0.0 for c in fleet.classes)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            terms = " + ".join(f"{c.name} {c.share:g}" for c in fleet.classes)
            problems.append(("classes", f"shares must sum to 1 (got {total:g} = {terms})"))
        if fleet.clients is None:
            problems.append(("clients", "required field is missing (classes give shares of it)"))
    else:
        total_count = sum(c.count or 0 for c in fleet.classes)
        if total_count < 1:
            problems.append(("classes", "the class counts sum to 0 clients"))
        elif fleet.clients is not None and fleet.clients != total_count:
            problems.append(
                ("clients", f"must equal the sum of the class counts (got {fleet.clients} != {total_count})")
            )
    return problems


def _replay_problems(fleet: FleetSpec) -> list[Problem]:
    sel = fleet.selection
    problems: list[Problem] = []
    if len(fleet.classes) != 1:
        problems.append(("classes", f"scheme replay takes exactly one class (got {len(fleet.classes)})"))
    elif fleet.classes[0].cost.measured is None:
        problems.append(("classes[0].cost", "scheme replay needs measured costs (the run's own clients)"))
    if sel.clients_per_round is not None:
        problems.append(("selection.clients_per_round", "scheme replay selects the run's own clients; leave it out"))
    if sel.over_selection != 1.0:
        problems.append(("selection.over_selection", f"must be 1 with scheme replay (got {sel.over_selection:g})"))
    for i, cls in enumerate(fleet.classes):
        avail = fleet.availability_of(cls)
        if avail.fixed != 1.0:
            where = f"classes[{i}].availability" if cls.availability is not None else "availability"
            problems.append((where, f"must be 1 with scheme replay (got {avail.describe()})"))
    return problems


def _load_profiles(fleet: FleetSpec, folder: Path) -> list[Problem]:
    problems: list[Problem] = []
    for i, cls in enumerate(fleet.classes):
        name = cls.profile
        if is_profile_path(name) and not os.path.isabs(os.path.expanduser(name)):
            name = os.path.abspath(folder / os.path.expanduser(name))
        try:
            fleet._profiles[cls.name] = get_profile(name)
        except ProfileError as exc:
            detail = "; ".join(m for _, m in exc.problems) if exc.source == "device" else str(exc)
            problems.append((f"classes[{i}].profile", detail))
    return problems


def _class_counts(fleet: FleetSpec) -> list[int]:
    """Clients per class: counts as given, or shares of `clients` rounded by largest remainder."""
    if fleet.classes[0].count is not None:
        return [int(c.count or 0) for c in fleet.classes]
    assert fleet.clients is not None
    exact = [(c.share or 0.0) * fleet.clients for c in fleet.classes]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[: fleet.clients - sum(counts)]:
        counts[i] += 1
    return counts
