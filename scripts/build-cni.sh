#!/usr/bin/env bash
# Compile the CNI plugin's front (src/romana/integrations/cni/front/romana-cni.c).
#
#   scripts/build-cni.sh [OUTPUT]
#
# OUTPUT defaults to .venv/bin/romana-cni. Install it beside romana-cni-py (the Python plugin
# it execs when it cannot use the agent; it looks there at run time, so the pair can be moved
# together). CC (default gcc) and CFLAGS (appended, split at blanks; e.g.
# CFLAGS='-DROMANA_AGENT_SOCKET_DEFAULT="/run/x.sock"') are honoured. The binary is built
# beside OUTPUT under a temporary name and renamed into place, so a runtime never runs a
# half-written file.
# The default build is skipped while .venv/.romana-cni-built holds the sha256 of this script,
# the source and CFLAGS, and of the binary in place; other outputs are always built.
set -euo pipefail
self=$(realpath "$0")
# OUTPUT is relative to the caller's directory, everything else to the repository.
output=$(realpath -ms "${1:-$(dirname "$self")/../.venv/bin/romana-cni}")
cd "$(dirname "$self")/.."

source=src/romana/integrations/cni/front/romana-cni.c
default_output=$PWD/.venv/bin/romana-cni
cc=${CC:-gcc}
# Static: no dynamic loader at start (about 0.2 ms of every CNI call); libc.a is libc6-dev's.
flags=(-std=c11 -O2 -static -Wall -Wextra -Werror)
read -r -a extra <<<"${CFLAGS:-}"

stamp=.venv/.romana-cni-built
want=$( { sha256sum "$self" "$source" | cut -d' ' -f1; echo "$cc ${CFLAGS:-}"; } | sha256sum | cut -d' ' -f1)
if [ "$output" = "$default_output" ] && [ -f "$stamp" ] && [ -f "$output" ] \
    && [ "$(cat "$stamp")" = "$want $(sha256sum "$output" | cut -d' ' -f1)" ]; then
    exit 0
fi

temporary=$(mktemp "$(dirname "$output")/.romana-cni.XXXXXX")
trap 'rm -f "$temporary"' EXIT
"$cc" "${flags[@]}" "${extra[@]}" -o "$temporary" "$source"
chmod 755 "$temporary"
mv -f "$temporary" "$output"
trap - EXIT
if [ "$output" = "$default_output" ]; then
    echo "$want $(sha256sum "$output" | cut -d' ' -f1)" >"$stamp"
    echo "build-cni: built $output"
fi
