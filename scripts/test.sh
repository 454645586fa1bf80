#!/usr/bin/env bash
# Set up .venv with the test dependencies and run the tests (offline, CPU). Extra arguments go to pytest.
#   scripts/test.sh           everything (what CI runs)
#   scripts/test.sh --fast    skip the tests marked slow (browser, fuzzing, DDP, learnability, the bench): the edit loop
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for argument in "$@"; do
  if [[ "$argument" == "--fast" ]]; then args+=(-m "not slow"); else args+=("$argument"); fi
done
scripts/setup.sh --test
# From Debian: espeak-ng makes the second voice in the selection tests; chromium is the browser Playwright drives
# (downloading one is impossible here, so the tests launch /usr/bin/chromium).
missing=()
command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
if ((${#missing[@]})); then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get install -y -q "${missing[@]}" >/dev/null 2>&1 \
    || { $sudo apt-get update -q >/dev/null 2>&1 && $sudo apt-get install -y -q "${missing[@]}" >/dev/null; }
fi
exec .venv/bin/python -m pytest ${args[@]+"${args[@]}"}
