#!/bin/sh
# Builds tp's LD_PRELOAD library (shims/build/libtp.so) and the capture relay of `tp run --netns`
# (shims/build/tp-relay) with the machine's C compiler. Run by
# `npm run build:shims` at install and build time. Without a compiler it says so and exits 0:
# `tp run` then works with the proxy environment and the Node preload only.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cc=${CC:-cc}
if ! command -v "$cc" >/dev/null 2>&1; then
  echo "tp: no C compiler ($cc) found; skipping the LD_PRELOAD library (tp run will use proxy settings only)" >&2
  exit 0
fi
mkdir -p "$here/build"
"$cc" -shared -fPIC -O2 -Wall -Wextra -fvisibility=hidden \
  -o "$here/build/libtp.so.tmp" "$here"/libtp/*.c -ldl -lpthread
mv "$here/build/libtp.so.tmp" "$here/build/libtp.so"
echo "tp: built $here/build/libtp.so"
# The relay is Linux-only (SO_ORIGINAL_DST); where it does not build, tp run --netns says so.
if "$cc" -O2 -Wall -Wextra -o "$here/build/tp-relay.tmp" "$here"/relay/*.c -lpthread; then
  mv "$here/build/tp-relay.tmp" "$here/build/tp-relay"
  echo "tp: built $here/build/tp-relay"
else
  echo "tp: could not build the capture relay; tp run --netns will not be available" >&2
fi
