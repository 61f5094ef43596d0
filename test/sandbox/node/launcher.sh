#!/bin/sh
# Pod container launcher: runs inside the private mount namespace `ip netns exec` creates, binds a
# pod's volumes and service-account dir onto their mount paths, then execs the container program.
#   launcher.sh <mounts-file> <workdir> <program> [args...]
# <mounts-file> lines: "<source><TAB><target><TAB>ro|rw" (a missing file means no mounts).
# A mount path that does not exist on the host is never created on the host: its deepest existing
# parent is shadowed by a tmpfs that re-exposes the parent's entries (bind mounts), and when that
# parent is / itself the program runs chrooted in a tmpfs root built the same way. All of this is
# private to the namespace and disappears with the process. Leaves out user namespaces and limits.
set -eu
mounts=$1 workdir=$2
shift 2
[ "$#" -gt 0 ] || { echo "launcher: no program given" >&2; exit 127; }

stage=$(dirname "$mounts")/.stage
root=
tab=$(printf '\t')

# shadow DIR: make DIR writable (a tmpfs) while keeping every entry it had visible.
shadow() {
  keep=$stage/keep.$(printf '%s' "$1" | md5sum | cut -c1-12)
  mkdir -p "$keep"
  mount --rbind "$1" "$keep"
  mount -t tmpfs -o mode=755 tmpfs "$1"
  for entry in "$keep"/* "$keep"/.[!.]* "$keep"/..?*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    name=${entry##*/}
    if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$1/$name"
    elif [ -d "$entry" ]; then mkdir -p "$1/$name" && mount --rbind "$entry" "$1/$name"
    else : > "$1/$name" && mount --rbind "$entry" "$1/$name"
    fi
  done
}

# ensure TARGET KIND: create the mount point (KIND dir|file) without writing to the host.
ensure() {
  dest=$root$1
  [ -e "$dest" ] && return 0
  parent=$1
  while [ ! -e "$root$parent" ]; do parent=$(dirname "$parent"); done
  if [ "$parent" = / ] && [ -z "$root" ]; then
    root=$stage/root
    mkdir -p "$root"
    mount -t tmpfs -o mode=755 tmpfs "$root"
    for entry in /* /.[!.]*; do
      [ -e "$entry" ] || [ -L "$entry" ] || continue
      name=${entry##*/}
      if [ -L "$entry" ]; then ln -s "$(readlink "$entry")" "$root/$name"
      elif [ -d "$entry" ]; then mkdir "$root/$name" && mount --rbind "$entry" "$root/$name"
      fi
    done
    dest=$root$1
  elif [ "$parent" != / ]; then
    shadow "$root$parent"
  fi
  if [ "$2" = dir ]; then mkdir -p "$dest"; else mkdir -p "$(dirname "$dest")" && : > "$dest"; fi
}

if [ -f "$mounts" ]; then
  mkdir -p "$stage"
  mount -t tmpfs tmpfs "$stage"
  while IFS=$tab read -r source target mode; do
    [ -n "$source" ] || continue
    target=$(realpath -m "$target")
    if [ -d "$source" ]; then ensure "$target" dir; else ensure "$target" file; fi
    mount --bind "$source" "$root$target"
    [ "$mode" = ro ] && mount -o remount,bind,ro "$root$target"
  done < "$mounts"
fi

if [ -n "$root" ]; then
  exec chroot "$root" /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec "$@"' launcher "${workdir:-/}" "$@"
fi
cd "${workdir:-/}" 2>/dev/null || cd /
exec "$@"
