#!/usr/bin/env bash
# Fetch the vega / vega-lite / vega-embed browser builds from the npm registry at pinned versions and
# copy build/*.min.js into DEST (default book/_static/vega), so Altair charts in the book render
# offline (html_js_files in _config.yml; see book/_static/vega-config.js).
# Each tarball is checked against the registry's sha512 integrity pinned below.
# The versions must equal altair's alt.VEGA_VERSION / VEGALITE_VERSION / VEGAEMBED_VERSION
# (tests/test_packaging.py checks it). Idempotent: does nothing if DEST/.stamp matches this script.
set -euo pipefail

# name version npm-integrity
PINS=(
  "vega 6.4.0 sha512-rHXCq2LpEWCLMjXBEj7hocY9G0/i5TGYRayGGSj06VTF4+l2IG2Z7oeZKCjWbUh/7hTE/mVhbaOPB72wCElh6g=="
  "vega-lite 6.4.1 sha512-KO3ybHNouRK4A0al/+2fN9UqgTEfxrd/ntGLY933Hg5UOYotDVQdshR3zn7OfXwQ7uj0W96Vfa5R+QxO8am3IQ=="
  "vega-embed 7.3.0 sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0giQvh2cK+3p56sxjWWM0wNngGw=="
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$(cd "$here/.." && pwd)/book/_static/vega}"
key="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"

if [[ -f "$dest/.stamp" && "$(cat "$dest/.stamp")" == "$key" ]]; then
  ok=1
  for pin in "${PINS[@]}"; do
    read -r name _ _ <<<"$pin"
    [[ -s "$dest/$name.min.js" ]] || ok=0
  done
  if [[ $ok == 1 ]]; then
    echo "vega scripts up to date in $dest"
    exit 0
  fi
fi

command -v npm >/dev/null || { echo "fetch_vega.sh: npm is needed (apt-get install -y npm)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"
for pin in "${PINS[@]}"; do
  read -r name version integrity <<<"$pin"
  (cd "$work" && npm pack --silent "$name@$version" >/dev/null)
  tgz="$work/$name-$version.tgz"
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [[ "$got" != "$integrity" ]]; then
    echo "fetch_vega.sh: integrity mismatch for $name@$version: $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$work" "package/build/$name.min.js"
  install -m 0644 "$work/package/build/$name.min.js" "$dest/$name.min.js.tmp"
  mv "$dest/$name.min.js.tmp" "$dest/$name.min.js"
  rm -rf "$work/package"
  echo "fetched $name@$version -> $dest/$name.min.js"
done
echo "$key" >"$dest/.stamp"
