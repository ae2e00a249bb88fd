#!/bin/sh
# Makes sure nginx exists (Debian package `nginx-light`), for the test that puts deploy/nginx.conf in
# front of two server processes. Quiet when it is already there; installs it with apt-get otherwise
# (needs root, e.g. in CI). Only the binary is used: the test runs its own instance on a free port.
set -eu
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-nginx: nginx is missing; installing the Debian package 'nginx-light'..." >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
if [ ! -x /usr/sbin/nginx ]; then
  echo "ensure-nginx: the install finished but /usr/sbin/nginx is still missing" >&2
  exit 1
fi
echo "ensure-nginx: installed $(/usr/sbin/nginx -v 2>&1)" >&2
