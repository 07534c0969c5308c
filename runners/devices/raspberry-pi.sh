#!/usr/bin/env bash
# A Raspberry Pi 5 (or 4) on 64-bit Raspberry Pi OS as edgebench client $EB_PARTITION_ID. See docs/flower.md.
#   EB_SUPERLINK=10.0.0.2:8000 EB_PARTITION_ID=1 EB_NUM_PARTITIONS=3 runners/devices/raspberry-pi.sh
# Needs: Python >= 3.11 (Bookworm ships 3.11) with flwr 1.42 (or the federation's flwr), edgebench[flower] with the aarch64 CPU torch wheel;
# the user in the `video` group for `vcgencmd pmic_read_adc` (Pi 5 power rails).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

check_python
[[ -r /proc/device-tree/model ]] && echo "board: $(tr -d '\0' </proc/device-tree/model)" >&2
if command -v vcgencmd >/dev/null; then
    vcgencmd pmic_read_adc >/dev/null 2>&1 || echo "warning: vcgencmd pmic_read_adc failed: add $(id -un) to the video group (sudo usermod -aG video $(id -un); log in again)" >&2
    echo "throttled: $(vcgencmd get_throttled 2>/dev/null || echo '?')" >&2
fi
# 4 cores, little memory: one thread per core, and leave room for the OS.
export EB_TORCH_THREADS="${EB_TORCH_THREADS:-4}"
"$EB_PYTHON" -m edgebench.cli doctor ${EB_DEVICE_PROFILE:+--device "$EB_DEVICE_PROFILE"} >&2 || true
start_client "$@"
