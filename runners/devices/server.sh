#!/usr/bin/env bash
# The server: a long-lived SuperLink (state on disk, TLS, SuperNode authentication, no runtime installs)
# and an experiment submitted to it.
#   runners/devices/server.sh runners/configs/quickstart.yaml [edgebench server options...]
#   runners/devices/server.sh stop        # stop the SuperLink this script started
# The SuperLink is started once, in a session of its own (Ctrl-C on this script stops the experiment with
# `flwr stop`, never the SuperLink), keeps its state in a database, and stays up after the experiment:
# connected devices stay connected for the next experiment or a --resume; after a SuperLink restart they
# reconnect by themselves (the device scripts restart their SuperNode with backoff).
# Environment (defaults in brackets):
#   EB_HOST [0.0.0.0] EB_PORT [8000]   where the SuperLink listens (devices use <this host>:EB_PORT); the
#                                      flags come from `python -m edgebench.fl.flower.compat superlink-args`:
#                                      flwr 1.42 serves everything on EB_PORT; flwr 1.30 serves the devices
#                                      (Fleet API) on EB_PORT and `edgebench server` (Control API) on 9093
#   EB_PYTHON [python3]                the Python of the venv holding edgebench[flower] (and flwr's commands)
#   EB_SECRETS [~/.config/edgebench/federation]   certificates and keys, outside the checkout
#   EB_CERTS [$EB_SECRETS/certs]       ca.pem, server.pem, server.key (make-certs.sh writes them)
#   EB_KEYS [$EB_SECRETS/keys]         the devices' public keys, client-K.pub, registered before they connect
#   EB_STATE [~/.local/state/edgebench/superlink]  the SuperLink's database, log, pid file and homes
#   EB_INSECURE [0]                    1: no TLS and no node auth (a lab bench only)
#   EB_KEEP_SUPERLINK [1]              0: stop the SuperLink when this experiment ends
# Start this first; then start the devices (they retry until the SuperLink is up, and the server waits
# runtime.wait_for_nodes_s for them).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/common.sh"

EB_HOST="${EB_HOST:-0.0.0.0}"
EB_PORT="${EB_PORT:-8000}"
EB_CERTS="${EB_CERTS:-$EB_SECRETS/certs}"
EB_KEYS="${EB_KEYS:-$EB_SECRETS/keys}"
EB_STATE="${EB_STATE:-${XDG_STATE_HOME:-$HOME/.local/state}/edgebench/superlink}"
EB_KEEP_SUPERLINK="${EB_KEEP_SUPERLINK:-1}"
pidfile="$EB_STATE/superlink.pid"
modefile="$EB_STATE/superlink.args"
log="$EB_STATE/superlink.log"

superlink_pid() {  # the pid of the SuperLink this script started, if it still runs
    local pid
    [[ -f "$pidfile" ]] || return 1
    pid="$(cat "$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

stop_superlink() {
    local pid
    pid="$(superlink_pid)" || { echo "no SuperLink started by server.sh is running" >&2; return 0; }
    echo "stopping the SuperLink (pid $pid); its state stays in $EB_STATE/superlink.db" >&2
    kill -TERM "$pid"
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

if [[ "${1:-}" == stop ]]; then
    stop_superlink
    exit 0
fi
config="${1:?usage: server.sh CONFIG.yaml [edgebench server options] | server.sh stop}"; shift
check_python
mkdir -p "$EB_STATE"

# The listening flags differ between flwr 1.42 (one HTTP port) and 1.30 (Fleet API on EB_PORT for the devices,
# Control API on 9093 for `edgebench server` and the flwr CLI): asked of edgebench.fl.flower.compat.
listen_out="$("$EB_PYTHON" -m edgebench.fl.flower.compat superlink-args "$EB_HOST" "$EB_PORT")" \
    || die "could not get the SuperLink flags from edgebench.fl.flower.compat (EB_HOST=$EB_HOST EB_PORT=$EB_PORT)"
mapfile -t listen <<<"$listen_out"
control_port="$("$EB_PYTHON" -m edgebench.fl.flower.compat control-port "$EB_PORT")" \
    || die "could not get the SuperLink's Control API port from edgebench.fl.flower.compat"
superlink=(flower-superlink "${listen[@]}" --database "$EB_STATE/superlink.db")
security=()
if [[ "$EB_INSECURE" == 1 ]]; then
    superlink+=(--insecure)
    security=(--insecure)
else
    for f in ca.pem server.pem server.key; do [[ -f "$EB_CERTS/$f" ]] || die "missing $EB_CERTS/$f (EB_CERTS; make-certs.sh)"; done
    superlink+=(--ssl-ca-certfile "$EB_CERTS/ca.pem" --ssl-certfile "$EB_CERTS/server.pem" --ssl-keyfile "$EB_CERTS/server.key" --enable-supernode-auth)
    security=(--root-certificates "$EB_CERTS/ca.pem")
fi

address="127.0.0.1:$control_port"  # the SuperLink's Control API: `edgebench server` and the flwr CLI
port_open() {  # PORT: whether something listens on 127.0.0.1:PORT
    "$EB_PYTHON" -c 'import socket, sys; s = socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))))' "$1"
}

if pid="$(superlink_pid)"; then
    [[ "$(cat "$modefile" 2>/dev/null)" == "${superlink[*]}" ]] \
        || die "the SuperLink running (pid $pid) was started with other settings; stop it first: $0 stop"
    echo "+ reusing the SuperLink (pid $pid, log $log)" >&2
else
    port_open "$EB_PORT" && die "something else listens on port $EB_PORT (EB_PORT)"
    [[ "$control_port" == "$EB_PORT" ]] || ! port_open "$control_port" \
        || die "something else listens on port $control_port (the SuperLink's Control API with this flwr)"
    echo "+ ${superlink[*]} > $log (own session)" >&2
    # setsid: its own session and process group, so Ctrl-C here reaches `edgebench server` only.
    FLWR_HOME="$EB_STATE/home" setsid "${superlink[@]}" >>"$log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    echo "${superlink[*]}" >"$modefile"
    for _ in $(seq 1 120); do
        port_open "$EB_PORT" && port_open "$control_port" && break
        superlink_pid >/dev/null || { tail -n 20 "$log" >&2; die "the SuperLink exited; see $log"; }
        sleep 0.5
    done
fi
if [[ "$EB_KEEP_SUPERLINK" != 1 ]]; then
    trap stop_superlink EXIT
fi

if [[ "$EB_INSECURE" != 1 ]]; then
    # A Flower CLI connection to this SuperLink in a home of its own, for registering the devices' keys.
    cli_home="$EB_STATE/flwr-cli"
    mkdir -p "$cli_home"
    cat >"$cli_home/config.toml" <<TOML
[superlink]
default = "edgebench"

[superlink.edgebench]
address = "$address"
root-certificates = "$(cd "$EB_CERTS" && pwd)/ca.pem"
TOML
    # flwr 1.42 names a registered SuperNode (--name); flwr 1.30's `flwr supernode register` has no names.
    register_help="$(FLWR_HOME="$cli_home" flwr supernode register --help 2>/dev/null || true)"
    named=0
    [[ "$register_help" == *--name* ]] && named=1
    shopt -s nullglob
    for pub in "$EB_KEYS"/*.pub; do
        name="$(basename "$pub" .pub)"
        register=(flwr supernode register "$pub" edgebench)
        [[ "$named" == 1 ]] && register+=(--name "$name")
        if out="$(FLWR_HOME="$cli_home" "${register[@]}" 2>&1)"; then
            echo "+ registered $pub ($name)" >&2
        elif grep -q "already in use" <<<"$out"; then
            echo "+ $pub ($name) was registered before (the SuperLink database keeps it)" >&2
        else
            echo "$out" >&2
            die "could not register $pub"
        fi
    done
fi

echo "+ edgebench server $config --superlink $address ${security[*]} $*" >&2
set +e
"$EB_PYTHON" -m edgebench.cli server "$config" --superlink "$address" "${security[@]}" "$@"
rc=$?
set -e
[[ "$EB_KEEP_SUPERLINK" == 1 ]] && echo "the SuperLink keeps running (pid $(cat "$pidfile"); stop it with: $0 stop)" >&2
exit "$rc"
