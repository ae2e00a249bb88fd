#!/bin/sh
# Makes sure /usr/bin/chromium exists (Debian package `chromium`), for the drill's report test.
# Quiet when it is already there; installs it with apt-get otherwise (needs root, e.g. in CI).
set -eu
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-chromium: /usr/bin/chromium is missing; installing the Debian package 'chromium'..." >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
if [ ! -x /usr/bin/chromium ]; then
  echo "ensure-chromium: the install finished but /usr/bin/chromium is still missing" >&2
  exit 1
fi
echo "ensure-chromium: installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)" >&2
