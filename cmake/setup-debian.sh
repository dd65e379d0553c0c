#!/bin/sh
# Installs, with apt, everything liblossbal needs to build, test, document and
# package on Debian 12 (or a derivative): the compilers, CMake, and the
# -dev packages of its dependencies, and Debian's Fashion-MNIST, the data of
# the examples. Safe to run again: when everything is
# already installed it does nothing and needs no network.
# Runs as root, or through sudo when it is available.
set -eu

packages="gcc g++ make cmake pkg-config binutils
libopenblas-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev
libcmocka-dev doxygen dataset-fashion-mnist"

missing=""
for package in $packages; do
  if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q 'ok installed'; then
    missing="$missing $package"
  fi
done
[ -z "$missing" ] && exit 0

as_root=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "setup-debian.sh: run as root (or install sudo) to install:$missing" >&2
    exit 1
  }
  as_root="sudo"
fi
echo "setup-debian.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -q
# shellcheck disable=SC2086
$as_root apt-get install -y -q --no-install-recommends $missing
