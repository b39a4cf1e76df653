#!/usr/bin/env bash
# Installs what caredesk needs to build, test and serve, and nothing that is
# already there. Safe to run again. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libpq-dev libsodium-dev libcmocka-dev
  postgresql wrk curl python3
  clang libclang-rt-14-dev libpcre2-dev libstemmer-dev libcurl4-openssl-dev openssl
  python3-sklearn
  libgmime-3.0-dev python3-aiosmtpd libpython3.11-testsuite dovecot-imapd
  chromium nodejs npm
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from outside Debian's packages; a working node is enough.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Web assets (preact, htm), copied into web/vendor; cheap when up to date.
scripts/vendor-web.sh
# The browser test's driver (it uses Debian's chromium, downloads no browser).
if [ ! -d tests/e2e/node_modules/playwright-core ]; then
  echo "install-deps: installing playwright-core"
  (cd tests/e2e && npm install --no-audit --no-fund --silent)
fi
# Sentiment lexicons (vader-sentiment, emoji-emotion; versions pinned in
# lexicon/package-lock.json); the sentiment engine reads them at start and
# bench_sentiment runs vader-sentiment as its reference.
if [ ! -f lexicon/node_modules/vader-sentiment/vader_lexicon.txt ] ||
   [ ! -f lexicon/node_modules/emoji-emotion/index.js ]; then
  echo "install-deps: installing the sentiment lexicons"
  (cd lexicon && npm ci --no-audit --no-fund --silent)
fi
