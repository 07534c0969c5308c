# Shared by the device launch scripts (sourced, not run). See docs/flower.md.
# Every setting is an environment variable with a default; the scripts print what they run.

set -euo pipefail

# Flower phones home (telemetry, update check) unless told not to: off, for offline sites and so that no
# background traffic lands in the measured windows. Export your own values to override.
export FLWR_TELEMETRY_ENABLED="${FLWR_TELEMETRY_ENABLED:-0}"
export FLWR_DISABLE_UPDATE_CHECK="${FLWR_DISABLE_UPDATE_CHECK:-1}"
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"

EB_PYTHON="${EB_PYTHON:-python3}"          # the Python of the venv holding edgebench[flower]
EB_SUPERLINK="${EB_SUPERLINK:-}"           # host:port of the SuperLink (its --port, default 8000)
EB_CA="${EB_CA:-certs/ca.pem}"             # CA certificate that signed the SuperLink's certificate
EB_KEY="${EB_KEY:-keys/$(hostname)}"       # this device's SuperNode private key (OpenSSH, EC P-384)
EB_INSECURE="${EB_INSECURE:-0}"            # 1: no TLS, no node auth (a lab bench only)

die() { echo "error: $*" >&2; exit 2; }

check_python() {
    "$EB_PYTHON" - <<'PY' || die "Python >= 3.11 with flwr installed is required (flwr 1.42); see docs/flower.md"
import sys
assert sys.version_info >= (3, 11), f"Python {sys.version.split()[0]}"
import flwr, edgebench  # noqa: F401
PY
}

# edgebench client with the security flags; extra arguments are passed on.
start_client() {
    [[ -n "$EB_SUPERLINK" ]] || die "set EB_SUPERLINK=host:port"
    [[ -n "${EB_PARTITION_ID:-}" ]] || die "set EB_PARTITION_ID (this device's client id, 0-based)"
    local args=(client --superlink "$EB_SUPERLINK" --partition-id "$EB_PARTITION_ID")
    [[ -n "${EB_NUM_PARTITIONS:-}" ]] && args+=(--num-partitions "$EB_NUM_PARTITIONS")
    [[ -n "${EB_DEVICE_PROFILE:-}" ]] && args+=(--device-profile "$EB_DEVICE_PROFILE")
    [[ -n "${EB_DATA:-}" ]] && args+=(--data "$EB_DATA")
    [[ -n "${EB_TORCH_THREADS:-}" ]] && args+=(--torch-threads "$EB_TORCH_THREADS")
    if [[ "$EB_INSECURE" == 1 ]]; then
        args+=(--insecure)
    else
        [[ -f "$EB_CA" ]] || die "no CA certificate at $EB_CA (EB_CA)"
        [[ -f "$EB_KEY" ]] || die "no SuperNode key at $EB_KEY (EB_KEY); create it with: ssh-keygen -t ecdsa -b 384 -N '' -f $EB_KEY"
        args+=(--root-certificates "$EB_CA" --auth-key "$EB_KEY")
    fi
    echo "+ edgebench ${args[*]} $*" >&2
    exec "$EB_PYTHON" -m edgebench.cli "${args[@]}" "$@"
}
