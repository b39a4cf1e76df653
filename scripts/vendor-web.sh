#!/usr/bin/env bash
# Vendors the browser ES module builds of preact, preact/hooks and htm into
# web/vendor/, where web/index.html's import map points. No bundler: the C
# server serves these files as they are. Safe to run again: it installs only
# when web/node_modules lacks the pinned versions and copies only what changed.
set -euo pipefail
cd "$(dirname "$0")/../web"

# "name version" for each pinned dependency in web/package.json.
pinned() {
  node -e 'const d = require("./package.json").dependencies || {};
           for (const [n, v] of Object.entries(d)) console.log(n + " " + v);'
}

installed_version() {
  [ -f "node_modules/$1/package.json" ] || return 0
  node -e 'console.log(require(process.argv[1]).version)' "./node_modules/$1/package.json"
}

need_install=0
while read -r name want; do
  have=$(installed_version "$name")
  if [ "$have" != "$want" ]; then
    need_install=1
  fi
done < <(pinned)

if ((need_install)); then
  echo "vendor-web: npm install in web/"
  npm install --no-audit --no-fund --silent
fi

mkdir -p vendor

# first_existing FILE... : prints the first file that exists. Preact 10 ships
# dist/*.module.js, Preact 11 ships dist/*.mjs; htm ships dist/htm.module.js.
first_existing() {
  for f in "$@"; do
    if [ -f "$f" ]; then
      echo "$f"
      return 0
    fi
  done
  echo "vendor-web: none of these exist: $*" >&2
  return 1
}

# vendor SRC DEST: copies SRC to vendor/DEST, dropping the sourceMappingURL
# comment (the .map files keep their upstream names and are not vendored).
# Rewrites DEST only when its content would change.
vendor() {
  local src=$1 dest=vendor/$2 tmp
  tmp=$(mktemp)
  sed -e '/^\/\/# sourceMappingURL=/d' "$src" >"$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
    rm -f "$tmp"
  else
    mv "$tmp" "$dest"
    chmod 644 "$dest"
    echo "vendor-web: $src -> $dest"
  fi
}

vendor "$(first_existing node_modules/preact/dist/preact.mjs node_modules/preact/dist/preact.module.js)" preact.module.js
vendor "$(first_existing node_modules/preact/hooks/dist/hooks.mjs node_modules/preact/hooks/dist/hooks.module.js)" hooks.module.js
vendor "$(first_existing node_modules/htm/dist/htm.mjs node_modules/htm/dist/htm.module.js)" htm.module.js

# preact/hooks imports the bare specifier "preact", resolved by the import map.
grep -q 'from"preact"\|from "preact"' vendor/hooks.module.js ||
  echo "vendor-web: warning: vendor/hooks.module.js no longer imports \"preact\"; check the import map" >&2
