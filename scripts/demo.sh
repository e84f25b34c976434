#!/usr/bin/env bash
# The main job: set up, start the real style server (original VGG19 weights), stylize the bundled
# sample cat in the style of The Starry Night, write out/chelsea-starry_night.png, stop the server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup-venv.sh

ADDR=${NST_SERVER:-127.0.0.1:50051}
NST=.venv/bin/nst
mkdir -p out
started=""
if ! .venv/bin/python -c "import sys; from server.client import StyleClient; sys.exit(not StyleClient('$ADDR').wait_ready(1))"; then
    echo "demo: starting the style server on $ADDR (loads VGG19 once)" >&2
    "$NST" serve --address "$ADDR" 2> out/server.log &
    started=$!
    trap '[ -n "$started" ] && kill -TERM "$started" 2>/dev/null && wait "$started" || true' EXIT
    .venv/bin/python -c "import sys; from server.client import StyleClient; sys.exit(not StyleClient('$ADDR').wait_ready(120))" \
        || { echo "demo: the server did not come up; see out/server.log" >&2; cat out/server.log >&2; exit 1; }
fi

"$NST" stylize samples/chelsea.png samples/starry_night.jpg -o out/chelsea-starry_night.png \
    --server "$ADDR" --force "$@"
echo "demo: wrote out/chelsea-starry_night.png" >&2
