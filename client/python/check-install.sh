#!/bin/sh
# Installs the package as a user would (pip, into a fresh venv that sees Debian's
# python3-grpcio and python3-protobuf; no index is asked), from a copy of the checkout so
# the build leaves nothing in the tree, then runs the client suite from outside the
# checkout: the installed package, its generated stubs and its pytest11 entry point (no
# `-p` flag) are what is tested.
set -eu
unset PYTHONPATH  # the installed package, not the source tree
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/client"
cp -r "$here/../../proto" "$work/src/proto"
cp -r "$here" "$work/src/client/python"
rm -rf "$work/src/client/python/ismscode_harness/_gen"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --no-index --no-build-isolation \
  --disable-pip-version-check "$work/src/client/python"
cp -r "$here/tests" "$work/tests"
cd "$work"
"$work/venv/bin/python" -c '
import sys, ismscode_harness
if not ismscode_harness.__file__.startswith(sys.argv[1]):
    sys.exit(f"ismscode_harness came from {ismscode_harness.__file__}, not the venv")' "$work/venv"
exec "$work/venv/bin/python" -m pytest -q -p no:cacheprovider tests
