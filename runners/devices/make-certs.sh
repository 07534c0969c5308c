#!/usr/bin/env bash
# A private CA and the SuperLink's TLS certificate, with openssl (see docs/flower.md).
#   runners/devices/make-certs.sh ~/.config/edgebench/federation/certs 10.0.0.2 server.lan   # every address/name the devices use
# Writes OUT_DIR/ca.key (keep it off the devices), ca.pem (copy to every device), server.pem and server.key
# (the SuperLink's). 127.0.0.1 and localhost are always included, because `edgebench server` talks to
# the SuperLink on the same host through 127.0.0.1. Keep OUT_DIR outside any git checkout (server.sh
# reads ~/.config/edgebench/federation/certs by default); inside one it must be git-ignored.
set -euo pipefail
out="${1:?usage: make-certs.sh OUT_DIR ADDRESS_OR_NAME...}"; shift
mkdir -p "$out"
chmod 700 "$out"
if git -C "$out" rev-parse --is-inside-work-tree >/dev/null 2>&1 && ! git -C "$out" check-ignore -q "$out/ca.key"; then
    echo "warning: $out is inside a git checkout and not ignored: the CA's private key could be committed" >&2
fi
san="IP:127.0.0.1,DNS:localhost"
for name in "$@"; do
    if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then san+=",IP:$name"; else san+=",DNS:$name"; fi
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes -days 825 \
    -keyout "$out/ca.key" -out "$out/ca.pem" -subj "/CN=edgebench federation CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:secp384r1 -nodes \
    -keyout "$out/server.key" -out "$out/server.csr" -subj "/CN=edgebench SuperLink"
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial -days 825 \
    -out "$out/server.pem" -extfile <(printf "subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" "$san")
rm -f "$out/server.csr" "$out/ca.srl"
chmod 600 "$out/ca.key" "$out/server.key"
echo "wrote $out/ca.pem $out/server.pem $out/server.key (SAN $san); keep $out/ca.key safe" >&2
