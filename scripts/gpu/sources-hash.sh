#!/usr/bin/env bash
# Prints one SHA-256 over the module's Go sources, PTX, kernel sources and go.mod/go.sum, from the
# repository root, the same on the build machine (scripts/gpu/prebuild.sh records it) and on a
# CUDA machine without git (scripts/gpu/device-check.sh compares it): prebuilt test binaries are
# run only against the sources they were built from. Hidden folders (.git, .gpu, .gpubin) and
# vendor/ are left out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
find . \( -name '.?*' -o -name vendor \) -prune -o -type f \
  \( -name '*.go' -o -name '*.ptx' -o -name '*.cu' -o -name '*.cuh' -o -name go.mod -o -name go.sum \) -print |
  LC_ALL=C sort | xargs -d '\n' sha256sum | sha256sum | cut -d' ' -f1
