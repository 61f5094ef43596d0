#!/bin/sh
# Builds tp's native parts: the LD_PRELOAD library (shims/libtp/*.c → libtp.so), the front doors'
# owner lookup helper (shims/peer-uid/peer-uid.c → tp-peer-uid, netlink sock_diag; without it the
# daemon reads socket owners from /proc/net, slower) and the capture relay of `tp run --netns`
# (shims/relay/*.c → tp-relay, Linux only; without it --netns says so).
#
#   build.sh                 this machine's set, shims/build/, with $CC (default cc).
#                            Without a compiler it says so and exits 0: tp run then works with the
#                            proxy environment and the Node preload only.
#   build.sh --install       npm's postinstall: nothing to do when a prebuilt library fits this
#                            machine (Linux, x64 or arm64, glibc new enough); otherwise as above,
#                            and a failed compile never fails the install.
#   build.sh --prebuilt      the sets the npm package ships, shims/prebuilt/linux-<arch>/
#                            {libtp.so,tp-peer-uid,tp-relay}, with Debian's compilers for glibc targets (x86_64-linux-gnu-gcc,
#                            aarch64-linux-gnu-gcc), each with the oldest glibc it needs in
#                            glibc-version next to it. A missing compiler is reported by name;
#                            with --require (npm pack's prepack) it is an error.
# Every message goes to stderr, so that `npm pack --json` (which runs prepack) prints only JSON.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mode=${1:-host}

# compile CC OUT: the shared library from the sources, and tp-peer-uid and tp-relay beside it.
compile() {
  dir=$(dirname "$2")
  mkdir -p "$dir"
  "$1" -shared -fPIC -O2 -Wall -Wextra -fvisibility=hidden -o "$2.tmp" "$here"/libtp/*.c -ldl -lpthread &&
    mv "$2.tmp" "$2" &&
    "$1" -O2 -Wall -Wextra -o "$dir/tp-peer-uid.tmp" "$here"/peer-uid/peer-uid.c &&
    mv "$dir/tp-peer-uid.tmp" "$dir/tp-peer-uid" &&
    "$1" -O2 -Wall -Wextra -o "$dir/tp-relay.tmp" "$here"/relay/*.c -lpthread &&
    mv "$dir/tp-relay.tmp" "$dir/tp-relay"
}

# elf_machine FILE: the ELF header's e_machine (62 x86-64, 183 AArch64), little-endian at byte 18.
elf_machine() {
  od -An -tu2 -j18 -N2 "$1" | tr -d ' '
}

# prebuilt_fits PLATFORM: succeeds when the prebuilt library for PLATFORM is there and this
# machine's C library is glibc, at least as new as the library needs.
prebuilt_fits() {
  lib="$here/prebuilt/$1/libtp.so"
  [ -f "$lib" ] && [ -f "$here/prebuilt/$1/glibc-version" ] || return 1
  have=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc //p')
  [ -n "$have" ] || return 1
  need=$(cat "$here/prebuilt/$1/glibc-version")
  [ "$(printf '%s\n%s\n' "$need" "$have" | sort -t. -k1,1n -k2,2n | head -n1)" = "$need" ]
}

build_host() {
  cc=${CC:-cc}
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "tp: no C compiler ($cc) found; skipping the LD_PRELOAD library (tp run will use proxy settings and the Node preload only)" >&2
    return 0
  fi
  compile "$cc" "$here/build/libtp.so" || return 1
  echo "tp: built $here/build/libtp.so, tp-peer-uid and tp-relay" >&2
}

case "$mode" in
  host)
    build_host
    ;;
  --install)
    case "$(uname -s)-$(uname -m)" in
      Linux-x86_64) platform=linux-x64 ;;
      Linux-aarch64 | Linux-arm64) platform=linux-arm64 ;;
      *) platform= ;;
    esac
    if [ -n "$platform" ] && prebuilt_fits "$platform"; then
      echo "tp: using the prebuilt LD_PRELOAD library shims/prebuilt/$platform/libtp.so" >&2
      exit 0
    fi
    build_host || echo "tp: building the LD_PRELOAD library failed (see above); tp run will use proxy settings and the Node preload only. Fix the compiler and run \`npm rebuild tp\`." >&2
    ;;
  --prebuilt)
    require=${2:-}
    missing=
    for target in linux-x64:x86_64-linux-gnu-gcc:62:gcc-x86-64-linux-gnu+libc6-dev-amd64-cross linux-arm64:aarch64-linux-gnu-gcc:183:gcc-aarch64-linux-gnu+libc6-dev-arm64-cross; do
      platform=${target%%:*}; rest=${target#*:}
      cc=${rest%%:*}; rest=${rest#*:}
      machine=${rest%%:*}; package=${rest#*:}
      if ! command -v "$cc" >/dev/null 2>&1; then
        echo "tp: cannot build the prebuilt $platform library: $cc is missing (Debian: apt-get install $(echo "$package" | tr + ' '))" >&2
        missing="$missing $platform"
        continue
      fi
      out="$here/prebuilt/$platform/libtp.so"
      compile "$cc" "$out" || { echo "tp: $cc could not build $out (see above; Debian: apt-get install $(echo "$package" | tr + ' '))" >&2; exit 1; }
      for file in "$out" "$(dirname "$out")/tp-peer-uid" "$(dirname "$out")/tp-relay"; do
        if [ "$(elf_machine "$file")" != "$machine" ]; then
          echo "tp: $cc built $file for ELF machine $(elf_machine "$file"), not $machine" >&2
          exit 1
        fi
      done
      # The newest GLIBC_x.y symbol version either binds to is the oldest glibc they load on.
      need=$(LC_ALL=C grep -aoh 'GLIBC_[0-9][0-9.]*' "$out" "$(dirname "$out")/tp-peer-uid" "$(dirname "$out")/tp-relay" | sed 's/^GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -n1)
      [ -n "$need" ] || { echo "tp: found no GLIBC symbol version in $out" >&2; exit 1; }
      echo "$need" >"$here/prebuilt/$platform/glibc-version"
      echo "tp: built $out (glibc >= $need)" >&2
    done
    if [ -n "$missing" ] && [ "$require" = --require ]; then
      echo "tp: the npm package needs every prebuilt library; missing:$missing" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: build.sh [--install | --prebuilt [--require]]" >&2
    exit 2
    ;;
esac
