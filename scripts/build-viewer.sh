#!/usr/bin/env bash
# Build the map page's JavaScript: deck.gl & co. from the npm registry (package-lock.json pins
# every version), bundled with esbuild into viewer/static/vendor/ (generated, git-ignored, never
# edited by hand).  The page then loads nothing from a CDN: it runs on an intranet.
#   scripts/build-viewer.sh          build if viewer/static/vendor is missing or older than the lock
#   scripts/build-viewer.sh --force  rebuild
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
viewer="$here/viewer"
vendor="$viewer/static/vendor"
stamp="$vendor/.built-from"

if [ "${1:-}" != "--force" ] && [ -f "$stamp" ] && [ "$stamp" -nt "$viewer/package-lock.json" ] \
   && [ "$stamp" -nt "$viewer/js/deck-entry.js" ]; then
  exit 0
fi
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "building the viewer needs $tool (Debian: apt-get install nodejs npm; see scripts/system-deps.sh)" >&2
    exit 1
  }
done

cd "$viewer"
echo "viewer: npm ci (deck.gl, loaders.gl, esbuild as pinned in package-lock.json)"
# --ignore-scripts: no package needs an install script here (esbuild finds its binary in the
# @esbuild/<platform> package npm installs next to it).
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
rm -rf "$vendor.tmp" && mkdir -p "$vendor.tmp"
node_modules/.bin/esbuild js/deck-entry.js --bundle --minify --format=iife --global-name=deck \
  --target=es2020 --legal-comments=external --log-level=warning --outfile="$vendor.tmp/deck-bundle.js"
# loaders.gl parses vector tiles in a web worker; serve the worker ourselves (its default URL is
# a CDN).  The page passes this URL to MVTLayer (loadOptions.mvt.workerUrl).
cp node_modules/@loaders.gl/mvt/dist/mvt-worker.js "$vendor.tmp/mvt-worker.js"
node -e '
const fs = require("fs");
const lock = require("./package-lock.json");
const v = (n) => (lock.packages["node_modules/" + n] || {}).version;
const names = ["@deck.gl/core", "@deck.gl/json", "@loaders.gl/core", "@loaders.gl/mvt", "@loaders.gl/gltf"];
fs.writeFileSync(process.argv[1], JSON.stringify(Object.fromEntries(names.map((n) => [n, v(n)])), null, 1));
' "$vendor.tmp/versions.json"
# Compressed copies: the app sends these to browsers that accept gzip (≈ 4× fewer bytes).
for f in "$vendor.tmp"/*.js; do gzip -9 -k -n "$f"; done
rm -rf "$vendor" && mv "$vendor.tmp" "$vendor"
touch "$stamp"
ls -l "$vendor" | awk 'NR > 1 {print "viewer: built", $NF, $5 " bytes"}'
