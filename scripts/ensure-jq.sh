#!/bin/sh
# Makes sure jq is on PATH (Debian package `jq`), for the README walk-through test, which runs the
# README's curl examples as written. Quiet when it is already there; installs it with apt-get
# otherwise (needs root, e.g. in CI).
set -eu
if command -v jq >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-jq: jq is missing; installing the Debian package 'jq'..." >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq jq >/dev/null
if ! command -v jq >/dev/null 2>&1; then
  echo "ensure-jq: the install finished but jq is still missing" >&2
  exit 1
fi
echo "ensure-jq: installed $(jq --version)" >&2
