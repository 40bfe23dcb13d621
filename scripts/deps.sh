#!/bin/sh
# The Debian packages modelgate needs to build, test and run its demo.
#
#   scripts/deps.sh           install what is missing (as root, apt-get);
#                             otherwise print the command and fail
#   scripts/deps.sh --check   never install: print what is missing and the
#                             command that installs it, and fail
#
# make deps, make demo (as root) and .ci/run install; make check only
# checks. clang, clang-format and libclang-rt are for make lint, the clang
# build and the libFuzzer harnesses (CI runs all three).
mode=install
[ "${1:-}" = --check ] && mode=check
pkgs="build-essential pkg-config curl ca-certificates
libcurl4-openssl-dev libcjson-dev libarchive-dev libssl-dev libyaml-dev
libpcre2-dev libutf8proc-dev libmicrohttpd-dev libcmocka-dev zlib1g-dev
libbz2-dev liblzma-dev python3
python3-jinja2 python3-regex python3-yaml chromium docker-registry openssl apache2-utils
clang clang-format libclang-rt-14-dev"

missing=
for p in $pkgs; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  case "$st" in
    *" installed") ;;
    *) missing="$missing $p" ;;
  esac
done
[ -z "$missing" ] && exit 0

if [ "$mode" = check ] || [ "$(id -u)" != 0 ]; then
  echo "modelgate needs these Debian packages:$missing" >&2
  echo "install them with 'sudo make deps', or:" >&2
  echo "  sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2 || exit 1
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >&2
