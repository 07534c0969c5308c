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
# Certificates and keys live outside the checkout (never committed by accident), one key per client id.
EB_SECRETS="${EB_SECRETS:-${XDG_CONFIG_HOME:-$HOME/.config}/edgebench/federation}"
EB_CA="${EB_CA:-$EB_SECRETS/certs/ca.pem}" # CA certificate that signed the SuperLink's certificate
EB_KEY="${EB_KEY:-}"                       # this client's SuperNode private key [$EB_SECRETS/keys/client-$EB_PARTITION_ID]
EB_INSECURE="${EB_INSECURE:-0}"            # 1: no TLS, no node auth (a lab bench only)
EB_WARM="${EB_WARM:-1}"                    # 0: Flower's default, a fresh ClientApp process per message
EB_RECONNECT="${EB_RECONNECT:-1}"          # 0: exit when the SuperNode exits (no restart with backoff)
EB_BACKOFF_MAX_S="${EB_BACKOFF_MAX_S:-60}" # longest wait between two reconnects (s), doubling from 2 s
EB_STATE_DIR="${EB_STATE_DIR:-}"           # client method state on disk [~/.local/state/edgebench/node-state]

die() { echo "error: $*" >&2; exit 2; }

# Which Python and flwr may run edgebench's Flower side (edgebench/fl/flower/compat.py, docs/flower.md
# "flwr versions"): Python >= 3.11 with flwr 1.42.x (or 1.30.x, to join a 1.30 federation), or Python 3.10
# (JetPack 6, NVIDIA's CUDA torch) with flwr 1.30.x. Prints nothing when fine, else what to install.
python_flwr_problem() {  # PYTHON_MAJOR.MINOR FLWR_VERSION|none
    local py="$1" flwr="$2" major minor flwr_line
    IFS=. read -r major minor _ <<<"$py"
    flwr_line="$(cut -d. -f1-2 <<<"$flwr")"
    if [[ ! "$major" =~ ^[0-9]+$ || ! "$minor" =~ ^[0-9]+$ ]]; then
        echo "cannot read the Python version of $EB_PYTHON ('$py')"
    elif (( major < 3 || (major == 3 && minor < 10) )); then
        echo "Python $py: edgebench's Flower side needs Python >= 3.11 with flwr 1.42, or Python 3.10 (JetPack 6) with flwr 1.30.0"
    elif [[ "$flwr" == none ]]; then
        if (( major == 3 && minor == 10 )); then
            echo "flwr is not installed for Python $py: pip install -e '.[flower]' 'flwr==1.30.0' (Python 3.10 runs flwr 1.30 only, the whole federation on 1.30.0)"
        else
            echo "flwr is not installed for Python $py: pip install -e '.[flower]' 'flwr==1.42.0' (or the federation's flwr version)"
        fi
    elif (( major == 3 && minor == 10 )) && [[ "$flwr_line" != 1.30 ]]; then
        echo "flwr $flwr on Python $py: Python 3.10 (JetPack 6) runs flwr 1.30.x only: pip install 'flwr==1.30.0' (and flwr 1.30.0 on every machine of the federation), or use Python >= 3.11 with flwr 1.42"
    elif [[ "$flwr_line" != 1.30 && "$flwr_line" != 1.42 ]]; then
        echo "flwr $flwr is not supported: install flwr 1.42.x (pip install 'flwr==1.42.0'), or 1.30.x to join a flwr 1.30 federation"
    fi
}

check_python() {
    local found py flwr has_edgebench problem
    # Versions read without importing flwr (metadata); edgebench located, not imported.
    found="$("$EB_PYTHON" -c 'import importlib.util, sys
from importlib import metadata
try:
    flwr = metadata.version("flwr")
except metadata.PackageNotFoundError:
    flwr = "none"
print("%d.%d" % sys.version_info[:2], flwr, "yes" if importlib.util.find_spec("edgebench") else "no")' 2>&1)" \
        || die "cannot run $EB_PYTHON (EB_PYTHON, the Python of the venv holding edgebench[flower]): $found"
    read -r py flwr has_edgebench <<<"$found"
    problem="$(python_flwr_problem "$py" "${flwr:-none}")"
    [[ -z "$problem" ]] || die "$problem; see docs/flower.md"
    [[ "$has_edgebench" == yes ]] || die "edgebench is not installed for $EB_PYTHON: pip install -e '.[flower]' in this checkout"
    echo "+ Python $py, flwr $flwr" >&2
}

# edgebench client with the security flags; extra arguments are passed on. It stays in the foreground:
# the SuperNode plus the warm ClientApp worker, both restarted with backoff (EB_RECONNECT) when the
# SuperLink restarts, refuses the node for a while, or a new experiment starts.
start_client() {
    [[ -n "$EB_SUPERLINK" ]] || die "set EB_SUPERLINK=host:port"
    [[ -n "${EB_PARTITION_ID:-}" ]] || die "set EB_PARTITION_ID (this device's client id, 0-based)"
    local key="${EB_KEY:-$EB_SECRETS/keys/client-$EB_PARTITION_ID}"
    local args=(client --superlink "$EB_SUPERLINK" --partition-id "$EB_PARTITION_ID")
    [[ -n "${EB_NUM_PARTITIONS:-}" ]] && args+=(--num-partitions "$EB_NUM_PARTITIONS")
    [[ -n "${EB_DEVICE_PROFILE:-}" ]] && args+=(--device-profile "$EB_DEVICE_PROFILE")
    [[ -n "${EB_DATA:-}" ]] && args+=(--data "$EB_DATA")
    [[ -n "${EB_TORCH_THREADS:-}" ]] && args+=(--torch-threads "$EB_TORCH_THREADS")
    [[ -n "$EB_STATE_DIR" ]] && args+=(--state-dir "$EB_STATE_DIR")
    [[ "$EB_WARM" == 0 ]] && args+=(--cold)
    [[ "$EB_RECONNECT" == 1 ]] && args+=(--reconnect --backoff-max-s "$EB_BACKOFF_MAX_S")
    if [[ "$EB_INSECURE" == 1 ]]; then
        args+=(--insecure)
    else
        [[ -f "$EB_CA" ]] || die "no CA certificate at $EB_CA (EB_CA); copy the server's ca.pem there"
        [[ -f "$key" ]] || die "no SuperNode key at $key (EB_KEY); create it with:
    mkdir -p '$(dirname "$key")' && ssh-keygen -t ecdsa -b 384 -N '' -C client-$EB_PARTITION_ID -f '$key'
  then copy '$key.pub' to the server's keys folder (EB_KEYS) as client-$EB_PARTITION_ID.pub"
        args+=(--root-certificates "$EB_CA" --auth-key "$key")
    fi
    echo "+ edgebench ${args[*]} $*" >&2
    exec "$EB_PYTHON" -m edgebench.cli "${args[@]}" "$@"
}
