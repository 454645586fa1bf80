#!/usr/bin/env bash
# Set up .venv with the test dependencies and run the whole test suite (offline, CPU). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
# espeak-ng makes the second voice in the selection tests; it comes from Debian's packages.
if ! command -v espeak-ng >/dev/null 2>&1; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get install -y -q espeak-ng >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q espeak-ng >/dev/null; }
fi
exec .venv/bin/python -m pytest "$@"
