#!/usr/bin/env bash
# Installs what is missing, then builds and runs examples/quickstart.cpp.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release --target example_quickstart
./build/release/examples/example_quickstart
