#!/usr/bin/env bash
# deps.sh — the Debian packages snug needs to build and test, checked or installed.
#   tools/deps.sh check     exit 0 if all are installed, else list the missing ones and exit 1
#   tools/deps.sh install   apt-get install the missing ones (as root, or through sudo)
#   tools/deps.sh check|install clang   the same, plus what clang builds need: clang itself for `make CC=clang`,
#                                       and the sanitizer and libFuzzer runtimes for `make fuzz`
set -u
packages=(gcc make libc6-dev libcriterion-dev libhwloc-dev libjansson-dev libmicrohttpd-dev libpcre2-dev libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers pkg-config python3 python3-numpy)
clang_packages=(clang-14 libclang-rt-14-dev)
[ "${2:-}" = clang ] && packages+=("${clang_packages[@]}")

missing=()
for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
    [ "$status" = "install ok installed" ] || missing+=("$p")
done

case "${1:-check}" in
check)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "snug: missing Debian packages: ${missing[*]}" >&2
        exit 1
    fi
    ;;
install)
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "snug: installing ${missing[*]}" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            echo "snug: not root and no sudo; install as root: apt-get install -y ${missing[*]}" >&2
            exit 1
        fi
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q >/dev/null && $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || {
        echo "snug: apt-get install failed for: ${missing[*]}" >&2
        exit 1
    }
    ;;
*)
    echo "usage: tools/deps.sh check|install [clang]" >&2
    exit 2
    ;;
esac
