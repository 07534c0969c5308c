"""Device profiles: every shipped file validates, bad files fail with file + field, detection per board."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgebench.devices.detect import HostFacts, detect_profile, gather_facts, match_profile, select_profile
from edgebench.devices.host import host_info
from edgebench.devices.profiles import (
    PROFILES_ENV,
    ProfileError,
    get_profile,
    load_profile_file,
    load_profiles,
    profiles_dir,
)

REPO = Path(__file__).resolve().parent.parent.parent
SYSFS = REPO / "tests" / "fixtures" / "sysfs"
REQUIRED = {
    "jetson-nano",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-thor",
    "jetson-orin-nano",
    "jetson-orin-nx",
    "jetson-agx-orin",
    "raspberry-pi-4",
    "raspberry-pi-5",
    "laptop-nvidia-gpu",
    "x86-cpu",
}


def test_every_device_class_has_a_valid_profile() -> None:
    profiles = load_profiles()
    assert REQUIRED <= set(profiles)
    for name, p in profiles.items():
        assert p.name == name and p.meters and p.sampling.rate_hz > 0 and p.network.uplink_mbit_s > 0
        assert p.estimate.per_core_w and p.estimate.source, name  # every profile can fall back to an estimate
        assert p.meters[-1] == "estimate", name
    assert [p.name for p in profiles.values() if p.detect.fallback] == ["x86-cpu"]


def test_package_profiles_are_the_checkout_profiles() -> None:
    """edgebench/devices/device_profiles (package data) must be the top-level device_profiles/ folder."""
    package = sorted(p.name for p in (REPO / "edgebench" / "devices" / "device_profiles").glob("*.yaml"))
    checkout = sorted(p.name for p in (REPO / "device_profiles").glob("*.yaml"))
    assert package == checkout and len(checkout) >= len(REQUIRED)
    for name in checkout:
        shipped = (REPO / "edgebench" / "devices" / "device_profiles" / name).read_bytes()
        assert shipped == (REPO / "device_profiles" / name).read_bytes()
    assert profiles_dir().resolve() == (REPO / "device_profiles").resolve()


def _write(tmp_path: Path, name: str, changes: dict) -> Path:
    data = yaml.safe_load((REPO / "device_profiles" / "x86-cpu.yaml").read_text())
    for dotted, value in changes.items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[leaf]
        else:
            node[leaf] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sampling.rate": 5}, "sampling.rate: unknown key"),
        ({"sampling.rate_hz": "fast"}, "sampling.rate_hz: Input should be a valid number"),
        ({"meters": ["rapl", "thermometer"]}, "meters[1]: unknown meter 'thermometer'"),
        ({"meters": ["rapl&rapl"]}, "meters[0]: meter listed twice in 'rapl&rapl'"),
        ({"meters": ["rapl&toaster"]}, "meters[0]: unknown meter 'toaster'"),
        ({"network.tx_power_w": None}, "network: give both tx_power_w and rx_power_w"),
        ({"network": KeyError}, "network: Field required"),
        ({"torch.dtype": "float64"}, "torch.dtype: Input should be 'float32', 'float16' or 'bfloat16'"),
        ({"name": "other"}, "name: must match the file name 'bad'"),
    ],
)
def test_bad_profiles_name_file_and_field(tmp_path: Path, changes: dict, message: str) -> None:
    path = _write(tmp_path, "bad", changes)
    with pytest.raises(ProfileError) as err:
        load_profile_file(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_unknown_profile_name_lists_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"unknown device profile 'toaster'.*jetson-nano.*x86-cpu"):
        get_profile("toaster")


def test_profile_by_path_and_profiles_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path, "my-board", {"name": "my-board", "detect.fallback": False})
    assert get_profile(str(path)).name == "my-board"
    monkeypatch.setenv(PROFILES_ENV, str(tmp_path))
    assert list(load_profiles()) == ["my-board"]


@pytest.mark.parametrize(
    ("board", "profile"),
    [
        ("jetson-nano-jp4", "jetson-nano"),
        ("jetson-xavier-nx-jp4", "jetson-xavier-nx"),
        ("jetson-xavier-nx-jp5", "jetson-xavier-nx"),
        ("jetson-agx-xavier-jp4", "jetson-agx-xavier"),
        ("jetson-agx-xavier-jp5", "jetson-agx-xavier"),
        ("jetson-orin-nano-jp5", "jetson-orin-nano"),
        ("jetson-orin-nano-jp6", "jetson-orin-nano"),
        ("jetson-orin-nx-jp5", "jetson-orin-nx"),
        ("jetson-orin-nx-jp6", "jetson-orin-nx"),
        ("jetson-agx-orin-jp5", "jetson-agx-orin"),
        ("jetson-agx-orin-jp6", "jetson-agx-orin"),
        ("jetson-thor-jp7", "jetson-thor"),
        ("jetson-unknown", "jetson-generic"),
        ("raspberry-pi-5", "raspberry-pi-5"),
        ("raspberry-pi-4", "raspberry-pi-4"),
        ("laptop-nvidia", "laptop-nvidia-gpu"),
        ("x86-rapl", "x86-cpu"),
    ],
)
def test_detection_on_fixture_trees(board: str, profile: str) -> None:
    facts = gather_facts(SYSFS / board, machine="aarch64" if "jetson" in board or "raspberry" in board else "x86_64")
    selection, table = detect_profile(facts)
    assert selection.profile.name == profile
    assert selection.reasons and table[profile][0]


def test_detection_reasons_are_specific() -> None:
    selection = select_profile("auto", SYSFS / "jetson-orin-nano-jp6")
    assert selection.how == "detected"
    assert selection.reasons == [
        "device-tree model 'NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super' contains 'Orin Nano'"
    ]
    laptop = select_profile("auto", SYSFS / "laptop-nvidia")
    assert "NVIDIA PCI GPU at 0000:01:00.0" in laptop.reasons


def test_compatible_string_alone_is_enough() -> None:
    facts = HostFacts(sysfs_root=Path("/x"), machine="aarch64", device_tree_compatible=["nvidia,p3701-0005"])
    ok, reasons = match_profile(get_profile("jetson-agx-orin"), facts)
    assert ok and "compatible 'nvidia,p3701-0005' contains 'nvidia,p3701'" in reasons[0]


def test_nothing_matches_falls_back_with_the_reason() -> None:
    facts = HostFacts(sysfs_root=Path("/x"), machine="riscv64")
    selection, _ = detect_profile(facts)
    assert selection.profile.name == "x86-cpu" and selection.how == "fallback"
    assert "no profile matched (machine riscv64)" in selection.reasons


def test_requested_profile_overrides_detection() -> None:
    selection = select_profile("raspberry-pi-5", SYSFS / "jetson-orin-nano-jp6")
    assert selection.profile.name == "raspberry-pi-5" and selection.how == "requested"


def test_sysfs_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBENCH_SYSFS_ROOT", str(SYSFS / "raspberry-pi-5"))
    assert select_profile("auto").profile.name == "raspberry-pi-5"


def test_host_info_still_works() -> None:
    info = host_info()
    assert info["logical_cpus"] >= 1 and info["memory_total_bytes"] > 0 and "cuda_available" in info


@pytest.mark.parametrize(
    ("total", "message"),
    [
        # jetson-stats issue #51: the Nano's input rail already contains the GPU and CPU rails
        (["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"], "POM_5V_IN is the board's input and already contains"),
        (["VDD_IN", "VDD_SOC"], "VDD_IN is the board's input and already contains VDD_SOC"),
        # NVIDIA's AGX Orin table: VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0
        (["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"], "VDDQ_VDD2_1V8AO is inside VIN_SYS_5V0"),
    ],
)
def test_rail_maps_that_count_power_twice_are_rejected(tmp_path: Path, total: list[str], message: str) -> None:
    path = _write(tmp_path, "bad", {"name": "bad", "rails": {"total": total, "components": [], "scope": "x"}})
    with pytest.raises(ProfileError, match=rf"bad.yaml: rails: .*{message}"):
        load_profile_file(path)


def test_agx_orin_total_is_the_three_top_level_rails_not_one_and_not_four() -> None:
    rails = get_profile("jetson-agx-orin").rails
    assert rails is not None
    assert rails.total == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0"]  # not VIN_SYS_5V0 alone (jetson-stats #344)
    assert rails.components == ["VDDQ_VDD2_1V8AO"]  # inside VIN_SYS_5V0: reported, never added


def test_onboard_sensors_say_they_do_not_see_the_carrier_board() -> None:
    """Every Jetson module total excludes the carrier board (USB, NVMe, fan), and says so; Thor's INA238
    sits on the carrier board's input, so its scope says the opposite."""
    for name, profile in load_profiles().items():
        if not name.startswith("jetson-") or name == "jetson-generic":
            continue
        assert profile.rails is not None and profile.rails.total, name
        scope = profile.rails.scope
        if name == "jetson-thor":
            assert "carrier board" in scope and "excludes the carrier board" not in scope
        else:
            assert "excludes the carrier board" in scope, name


def test_laptop_chain_measures_the_gpu_and_reports_an_estimated_cpu_beside_it() -> None:
    from edgebench.devices.profiles import parse_meter_choice

    chain = get_profile("laptop-nvidia-gpu").meters
    assert chain == ["nvml+rapl", "nvml&estimate", "rapl", "estimate"]
    assert parse_meter_choice("nvml&estimate") == (["nvml"], ["estimate"])
    assert parse_meter_choice("nvml+rapl") == (["nvml", "rapl"], [])
