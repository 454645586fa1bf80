#!/usr/bin/env bash
# Create .venv and install bark-clone into it (idempotent; quick when nothing changed).
#   scripts/setup.sh          the package and its runtime dependencies
#   scripts/setup.sh --test   plus what the tests need (pytest, the bark==0.1.5 wheel for Bark's own checks, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[[ "${1:-}" == "--test" ]] && extras="[test,ray]"  # the tests run the service on a local Ray instance too

python=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip -q --disable-pip-version-check)

stamp=".venv/.bark-clone-installed${extras:+-test}"
if [[ -f "$stamp" && "$stamp" -nt pyproject.toml && "$stamp" -nt scripts/setup.sh ]]; then
  exit 0
fi

# torch first, so nothing later resolves it to a multi-GB CUDA build: the 2.13.0 CPU wheel where it exists.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" install torch==2.13.0 \
    || "${pip[@]}" install torch --index-url https://download.pytorch.org/whl/cpu \
    || "${pip[@]}" install torch
fi
"${pip[@]}" install -e ".${extras}"
if [[ -n "$extras" ]]; then
  # Bark's own prompt checks and its 271 presets, and the vocos package (the reference our Vocos decoder is
  # checked against); --no-deps because they would pull encodec, torchaudio (no build for our torch) and boto3.
  "${pip[@]}" install --no-deps bark==0.1.5 vocos==0.1.0
fi
touch "$stamp"
