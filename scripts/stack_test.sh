#!/usr/bin/env bash
# Boot the whole compose stack and check it end to end: tests/stack/ (pytest marker docker).
#
#   scripts/stack_test.sh [pytest args]       (make stack-test)
#
# Where no registry is reachable, set STANDIN_BUILD (default: ../shared/standin-images/build
# beside the repository) to build local stand-ins for the official images; this script, run as
# root, evals its `export *_IMAGE=...` lines, which also installs and starts a Docker engine.
# Set USE_STANDIN_IMAGES=0 to use the images named in the environment (or the pinned defaults).
# A missing Docker engine or Compose v2 fails the test, naming what to install.
set -euo pipefail
cd "$(git rev-parse --show-toplevel 2>/dev/null || dirname "$(dirname "$(readlink -f "$0")")")"

STANDIN_BUILD="${STANDIN_BUILD:-$(pwd)/../shared/standin-images/build}"
if [ "${USE_STANDIN_IMAGES:-1}" != 0 ] && [ -x "$STANDIN_BUILD" ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "stack_test: building stand-in images with $STANDIN_BUILD" >&2
    exports="$("$STANDIN_BUILD")"
    eval "$exports"
    echo "$exports" >&2
    # every image the build names, whether or not its line says `export`
    for var in $(sed -n 's/^\(export \)\{0,1\}\([A-Z0-9_]*_IMAGE\)=.*/\2/p' <<<"$exports"); do
      export "$var"
    done
  else
    echo "stack_test: $STANDIN_BUILD needs root; using the images from the environment" >&2
  fi
fi

PYTHON="${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}"
exec "$PYTHON" -m pytest -m docker tests/stack -v -p no:cacheprovider "$@"
