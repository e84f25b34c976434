#!/usr/bin/env bash
# The test suite: set up (with dev tools), lint the proto, run every test. As root on Linux this
# includes the test inside real GIMP 3 (it builds a cached Debian trixie root in /var/cache/nst-gimp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
NST_DEV=1 bash scripts/setup-venv.sh

echo "test: buf lint (STANDARD)" >&2
.venv/bin/buf lint protos
echo "test: pytest" >&2
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
