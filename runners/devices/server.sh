#!/usr/bin/env bash
# The server: a SuperLink (TLS, SuperNode authentication, no runtime installs) and the experiment.
#   runners/devices/server.sh runners/configs/quickstart.yaml [edgebench server options...]
# Environment (defaults in brackets):
#   EB_HOST [0.0.0.0] EB_PORT [8000]   where the SuperLink listens (devices use <this host>:EB_PORT)
#   EB_CERTS [certs]                   ca.pem, server.pem, server.key (docs/flower.md shows how to make them)
#   EB_KEYS [keys]                     the devices' public keys, *.pub, registered before they connect
#   EB_INSECURE [0]                    1: plain HTTP and no node auth (a lab bench only)
#   EB_KEEP_SUPERLINK [0]              1: leave the SuperLink running after the experiment
# Start this first; then start the devices (they retry until the SuperLink is up, and the server waits
# runtime.wait_for_nodes_s for them).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

config="${1:?usage: server.sh CONFIG.yaml [edgebench server options]}"; shift
EB_HOST="${EB_HOST:-0.0.0.0}"
EB_PORT="${EB_PORT:-8000}"
EB_CERTS="${EB_CERTS:-certs}"
EB_KEYS="${EB_KEYS:-keys}"
check_python

superlink=(flower-superlink --host "$EB_HOST" --port "$EB_PORT" --disable-runtime-dependency-installation)
security=()
if [[ "$EB_INSECURE" == 1 ]]; then
    superlink+=(--insecure)
    security=(--insecure)
else
    for f in ca.pem server.pem server.key; do [[ -f "$EB_CERTS/$f" ]] || die "missing $EB_CERTS/$f (EB_CERTS)"; done
    superlink+=(--ssl-ca-certfile "$EB_CERTS/ca.pem" --ssl-certfile "$EB_CERTS/server.pem" --ssl-keyfile "$EB_CERTS/server.key" --enable-supernode-auth)
    security=(--root-certificates "$EB_CERTS/ca.pem")
fi

log="${EB_SUPERLINK_LOG:-superlink.log}"
echo "+ ${superlink[*]} > $log" >&2
"${superlink[@]}" >"$log" 2>&1 &
superlink_pid=$!
stop_superlink() {
    if [[ "${EB_KEEP_SUPERLINK:-0}" != 1 ]] && kill -0 "$superlink_pid" 2>/dev/null; then
        echo "stopping the SuperLink (pid $superlink_pid)" >&2
        kill -TERM "$superlink_pid"
        for _ in $(seq 1 20); do kill -0 "$superlink_pid" 2>/dev/null || return 0; sleep 0.5; done
        kill -KILL "$superlink_pid" 2>/dev/null || true
    fi
}
trap stop_superlink EXIT

address="127.0.0.1:$EB_PORT"
for _ in $(seq 1 60); do
    "$EB_PYTHON" -c "import socket,sys; s=socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(('127.0.0.1', $EB_PORT)))" && break
    kill -0 "$superlink_pid" 2>/dev/null || die "the SuperLink exited; see $log"
    sleep 0.5
done

if [[ "$EB_INSECURE" != 1 ]]; then
    # A Flower CLI connection to this SuperLink (in its own FLWR_HOME), for registering the devices' keys.
    cli_home="$PWD/.flwr-edgebench-cli"
    mkdir -p "$cli_home"
    cat >"$cli_home/config.toml" <<TOML
[superlink]
default = "edgebench"

[superlink.edgebench]
address = "$address"
root-certificates = "$(cd "$EB_CERTS" && pwd)/ca.pem"
TOML
    shopt -s nullglob
    for pub in "$EB_KEYS"/*.pub; do
        echo "+ flwr supernode register $pub edgebench" >&2
        FLWR_HOME="$cli_home" flwr supernode register "$pub" edgebench || die "could not register $pub"
    done
fi

echo "+ edgebench server $config --superlink $address ${security[*]} $*" >&2
"$EB_PYTHON" -m edgebench.cli server "$config" --superlink "$address" "${security[@]}" "$@"
