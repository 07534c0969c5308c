#!/usr/bin/env bash
# A laptop or desktop (x86-64, optional NVIDIA GPU) as edgebench client $EB_PARTITION_ID. See docs/flower.md.
#   EB_SUPERLINK=10.0.0.2:8000 EB_PARTITION_ID=2 EB_NUM_PARTITIONS=3 runners/devices/laptop.sh
# Needs: Python >= 3.11 with flwr 1.42 (or the federation's flwr), torch (CPU or CUDA wheel), edgebench[flower]. RAPL energy counters are
# root-only on most kernels (docs/flower.md says how to open them, and the trade-off).
# Energy on this class (profile laptop-nvidia-gpu, docs/measurement.md "Meter chains"): with NVML and a
# readable RAPL, GPU board + CPU package, both measured. With RAPL root-only (the usual case) the energy
# column is the GPU board alone, measured by NVML; the CPU's share is *estimated* and reported beside it
# (energy_rails_j `not-in-total:estimate`), never added. Only without NVML does energy fall back to RAPL
# alone, and without both to the estimate.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

check_python
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv,noheader >&2 || true
# RAPL root-only: the CPU is then estimated beside the measured GPU (see above), not measured.
rapl=/sys/class/powercap/intel-rapl:0/energy_uj
if [[ -e "$rapl" && ! -r "$rapl" ]]; then
    if command -v nvidia-smi >/dev/null; then
        echo "warning: $rapl is root-only: energy is the GPU board's alone (NVML, measured); the CPU's is estimated and reported beside it, not added (docs/measurement.md \"Meter chains\"; docs/flower.md says how to open RAPL)" >&2
    else
        echo "warning: $rapl is root-only and no NVIDIA GPU answers: energy is the estimate (docs/measurement.md \"Meter chains\"; docs/flower.md says how to open RAPL)" >&2
    fi
fi
"$EB_PYTHON" -m edgebench.cli doctor ${EB_DEVICE_PROFILE:+--device "$EB_DEVICE_PROFILE"} >&2 || true
start_client "$@"
