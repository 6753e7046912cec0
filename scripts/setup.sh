#!/usr/bin/env bash
# setup.sh — make this checkout ready to run: pnpm (pinned in package.json's packageManager),
# the workspace's npm dependencies, and the TypeScript build. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(node -p 'require("./package.json").packageManager.split("@")[1]')
major=$(node -p 'process.versions.node.split(".")[0]')
if (( major < 20 )); then
  echo "kiln needs Node.js >= 20 (found $(node --version))" >&2
  exit 1
fi
if ! command -v pnpm >/dev/null || [[ "$(pnpm --version)" != "$want" ]]; then
  # corepack's bundled key list is too old on some Node 20 builds, so install pnpm with npm.
  if [[ $(id -u) == 0 ]]; then
    npm install -g --no-fund --no-audit "pnpm@$want" >/dev/null
  else
    npm install -g --prefix "$HOME/.local" --no-fund --no-audit "pnpm@$want" >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
  fi
fi
pnpm install --frozen-lockfile --reporter=append-only | grep -v '^Progress' || true
pnpm run -s build
