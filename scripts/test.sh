#!/usr/bin/env bash
# test.sh — everything CI runs: system packages the tests need, dependencies, build,
# lint, typecheck, and every test (unit and end-to-end against real registries and oracles).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/install-test-deps.sh
bash scripts/setup.sh
export PATH="$HOME/.local/bin:$PATH"
pnpm run -s lint
pnpm run -s typecheck
pnpm run -s test
echo "all tests passed in $(( $(date +%s) - start )) s"
