#!/usr/bin/env bash
# Update the vega / vega-lite / vega-embed browser builds that ship with the book (committed in
# book/_static/vega, so that any build of the book, `jupyter-book build .` included, renders its
# Altair charts offline: html_js_files in _config.yml; see book/_static/vega-config.js).
# Run it (`make vega`) only after changing a pin below, then commit the result: it fetches each
# package from the npm registry, checks the tarball against the registry's sha512 integrity pinned
# below, copies build/*.min.js into DEST (default book/_static/vega) and writes DEST/SHA256SUMS,
# which tests/test_packaging.py checks the committed files against.
# The versions must equal altair's alt.VEGA_VERSION / VEGALITE_VERSION / VEGAEMBED_VERSION
# (tests/test_packaging.py checks it).
set -euo pipefail

# name version npm-integrity
PINS=(
  "vega 6.4.0 sha512-rHXCq2LpEWCLMjXBEj7hocY9G0/i5TGYRayGGSj06VTF4+l2IG2Z7oeZKCjWbUh/7hTE/mVhbaOPB72wCElh6g=="
  "vega-lite 6.4.1 sha512-KO3ybHNouRK4A0al/+2fN9UqgTEfxrd/ntGLY933Hg5UOYotDVQdshR3zn7OfXwQ7uj0W96Vfa5R+QxO8am3IQ=="
  "vega-embed 7.3.0 sha512-wQ8s5GaSzqoKgmRfbRolgBrjE2CP7ZKHXqH7NijxMqPjpdWxSs4Dn8tvp9g0giQvh2cK+3p56sxjWWM0wNngGw=="
)

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest="${1:-$(cd "$here/.." && pwd)/book/_static/vega}"
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
rm -f "$dest/.stamp"
(cd "$dest" && { for pin in "${PINS[@]}"; do read -r name version _ <<<"$pin"; echo "# $name $version"; done;
                sha256sum vega.min.js vega-lite.min.js vega-embed.min.js; } >SHA256SUMS)
echo "wrote $dest/SHA256SUMS; commit $dest"
