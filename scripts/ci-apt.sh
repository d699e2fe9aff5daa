#!/usr/bin/env bash
# Debian packages the deployment tests (test/deploy) and the console's browser tests need, installed only when missing:
#   golang-go                            builds helm/renderer, the stand-in for `helm template`
#   golang-github-masterminds-sprig-dev  sprig (and yaml.v2) for that renderer, in GOPATH mode
#   prometheus                           prometheus and promtool
#   chromium                             the console's browser tests (driven by playwright-core, no download)
set -euo pipefail

packages=(golang-go golang-github-masterminds-sprig-dev prometheus chromium)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "ci-apt: ${packages[*]} already installed"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "ci-apt: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
