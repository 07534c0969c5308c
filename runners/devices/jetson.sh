#!/usr/bin/env bash
# A Jetson (Orin Nano / NX / AGX, Xavier NX) as edgebench client $EB_PARTITION_ID. See docs/flower.md.
#   EB_SUPERLINK=10.0.0.2:8000 EB_PARTITION_ID=0 EB_NUM_PARTITIONS=3 runners/devices/jetson.sh
# Needs: a CUDA torch for this JetPack and edgebench[flower,jetson]: on JetPack 6 the system Python 3.10
# (NVIDIA's torch) with flwr 1.30.0, the whole federation on flwr 1.30.0; Python >= 3.11 (JetPack 7) with
# flwr 1.42 (docs/flower.md "JetPack 6"; check_python says what to install). Unless EB_INSECURE=1,
# the CA certificate and this client's key under ~/.config/edgebench/federation (certs/ca.pem,
# keys/client-$EB_PARTITION_ID; its .pub registered on the SuperLink). Settings: common.sh, docs/flower.md.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

check_python
[[ -r /etc/nv_tegra_release ]] && echo "L4T: $(head -n1 /etc/nv_tegra_release)" >&2 || echo "warning: /etc/nv_tegra_release not found: is this a Jetson?" >&2
# The power mode and clocks decide the numbers: record them, never change them here.
command -v nvpmodel >/dev/null && { nvpmodel -q 2>/dev/null | head -n2 >&2 || true; }
"$EB_PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" >&2
# Which meters work (INA3221 sysfs is world-readable; tegrastats may need the user in the right group)
"$EB_PYTHON" -m edgebench.cli doctor ${EB_DEVICE_PROFILE:+--device "$EB_DEVICE_PROFILE"} >&2 || true
start_client "$@"
