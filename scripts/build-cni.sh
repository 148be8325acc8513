#!/usr/bin/env bash
# Compile the CNI plugin's front (src/romana/integrations/cni/front/romana-cni.c).
#
#   scripts/build-cni.sh [OUTPUT [PYTHON_PLUGIN]]
#
# OUTPUT defaults to .venv/bin/romana-cni, PYTHON_PLUGIN (the program the front execs when it
# cannot use the agent; an absolute path) to .venv/bin/romana-cni-py. The binary is built
# beside OUTPUT under a temporary name and renamed into place, so a runtime never runs a
# half-written file. The default build is skipped while .venv/.romana-cni-built holds the
# sha256 of this script, the source and PYTHON_PLUGIN's path, and of the binary in place;
# other outputs (the tests' own copies) are always built.
set -euo pipefail
self=$(realpath "$0")
# OUTPUT is relative to the caller's directory, everything else to the repository.
output=$(realpath -ms "${1:-$(dirname "$self")/../.venv/bin/romana-cni}")
cd "$(dirname "$self")/.."

source=src/romana/integrations/cni/front/romana-cni.c
default_output=$PWD/.venv/bin/romana-cni
python=${2:-$PWD/.venv/bin/romana-cni-py}

case $python in
    /*) ;;
    *) echo "build-cni: PYTHON_PLUGIN must be an absolute path, not '$python'" >&2; exit 2 ;;
esac
# The path becomes a C string literal; these characters would need escaping there.
if [[ $python == *[\"\\$'\n']* ]]; then
    echo "build-cni: PYTHON_PLUGIN '$python' contains a quote, backslash or newline" >&2
    exit 2
fi

stamp=.venv/.romana-cni-built
want=$( { sha256sum "$self" "$source" | cut -d' ' -f1; echo "$python"; } | sha256sum | cut -d' ' -f1)
if [ "$output" = "$default_output" ] && [ -f "$stamp" ] && [ -f "$output" ] \
    && [ "$(cat "$stamp")" = "$want $(sha256sum "$output" | cut -d' ' -f1)" ]; then
    exit 0
fi

temporary=$(mktemp "$(dirname "$output")/.romana-cni.XXXXXX")
trap 'rm -f "$temporary"' EXIT
# Static: no dynamic loader at start (about 0.2 ms of every CNI call); libc.a is libc6-dev's.
gcc -std=c11 -O2 -static -Wall -Wextra -Werror -DROMANA_CNI_PYTHON="\"$python\"" \
    -o "$temporary" "$source"
chmod 755 "$temporary"
mv -f "$temporary" "$output"
trap - EXIT
if [ "$output" = "$default_output" ]; then
    echo "$want $(sha256sum "$output" | cut -d' ' -f1)" >"$stamp"
    echo "build-cni: built $output (falls back to $python)"
fi
