#!/usr/bin/env bash
# quickstart.sh — install what kiln needs (pnpm, npm dependencies, the build) and run the main job:
# build examples/hello with kiln into an OCI image layout and print the image digest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
rm -rf out/hello
node packages/cli/dist/bin.js build \
  --context examples/hello \
  --dockerfile Dockerfile \
  --destination oci:out/hello:latest \
  --reproducible
echo "image written to out/hello (an OCI layout); inspect it with: skopeo inspect oci:out/hello:latest" >&2
