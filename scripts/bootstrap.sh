#!/usr/bin/env bash
# Install what the project needs on a fresh Debian 12 machine: Debian packages with apt-get,
# Python packages into .venv from this project's own pyproject.toml, then the compiled CNI
# front (scripts/build-cni.sh). Safe to run repeatedly; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
    python3 python3-venv python3-dev gcc libc6-dev
    iproute2 iptables nftables ipset conntrack iputils-ping netcat-openbsd iperf3 tcpdump
    etcd-server etcd-client bird2 containernetworking-plugins
    containerd runc busybox-static isc-dhcp-client debootstrap chromium
)
# podman and docker.io come without their recommends (see docs/operations.md).
APT_NORECOMMENDS=(podman docker.io)

missing=()
for p in "${APT_PACKAGES[@]}" "${APT_NORECOMMENDS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing Debian packages (${missing[*]}); run as root" >&2
        exit 1
    fi
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    base=() norec=()
    for p in "${missing[@]}"; do
        if [[ " ${APT_NORECOMMENDS[*]} " == *" $p "* ]]; then norec+=("$p"); else base+=("$p"); fi
    done
    ((${#base[@]})) && apt-get install -y -q "${base[@]}" >/dev/null
    ((${#norec[@]})) && apt-get install -y -q --no-install-recommends "${norec[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.romana-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "bootstrap: installing Python packages into .venv"
    .venv/bin/pip install -q -e '.[dev]' 2> >(grep -v 'is ignored: it is neither' >&2)
    echo "$want" >"$stamp"
fi
scripts/build-cni.sh
