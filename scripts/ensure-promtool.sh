#!/bin/sh
# Makes sure promtool exists (Debian package `prometheus`), for the test that checks the shipped
# Prometheus config and alert rules (deploy/prometheus). Quiet when it is already there; installs it
# with apt-get otherwise (needs root, e.g. in CI). Only promtool is used: no Prometheus is started.
set -eu
if command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "ensure-promtool: promtool is missing; installing the Debian package 'prometheus'..." >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "ensure-promtool: installed, but promtool is not on PATH" >&2; exit 1; }
echo "ensure-promtool: installed $(promtool --version 2>&1 | head -n 1)" >&2
