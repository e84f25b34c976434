#!/bin/sh
# Build (once) and use a Debian trixie root filesystem that holds GIMP 3 and a
# client-only Python venv, so the GIMP plug-in can be tested inside real GIMP
# on hosts whose distribution ships no GIMP 3.  Runs as root, non-interactive.
#
#   scripts/gimp-rootfs.sh            build or refresh; prints the root's path
#   scripts/gimp-rootfs.sh exec CMD…  run CMD inside the root (private mounts)
#
# The root lives outside the repository ($NST_GIMP_ROOTFS, default
# /var/cache/nst-gimp/trixie).  Every step leaves a stamp, so a second run only
# re-copies this repository's Python packages (seconds).
set -eu

ROOT=${NST_GIMP_ROOTFS:-/var/cache/nst-gimp/trixie}
MIRROR=${NST_DEBIAN_MIRROR:-http://deb.debian.org/debian}
REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=/opt/nst-venv        # inside the root
SRC=/opt/nst-src          # inside the root: copy of nst_core/, server/, protos/, gimp_plugin/
PACKAGES="gimp python3-gi gir1.2-gimp-3.0 python3-venv ca-certificates xvfb xdotool openbox"

log() { echo "gimp-rootfs: $*" >&2; }

[ "$(id -u)" = 0 ] || { log "must run as root (debootstrap and chroot)"; exit 2; }

# Run a command inside the root.  A private mount namespace means /proc and
# /dev mounts vanish with the command: nothing to unmount, nothing leaked if
# the caller is killed.  The network namespace stays shared, so 127.0.0.1 on
# the host is 127.0.0.1 inside.
in_root() {
    unshare --mount --propagation private sh -c '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --rbind /dev "$root/dev"
        mount -t tmpfs tmpfs "$root/dev/shm" 2>/dev/null || true
        exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
            PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
            DEBIAN_FRONTEND=noninteractive "$@"
    ' in_root "$ROOT" "$@"
}

if [ "${1:-}" = exec ]; then
    shift
    [ -f "$ROOT/.nst-ready" ] || { log "root not built; run $0 first"; exit 2; }
    in_root "$@"
    exit $?
fi

mkdir -p "$(dirname "$ROOT")"
# One builder at a time (CI jobs and developers may share the cache).
exec 9>"$ROOT.lock"
flock 9

# 1. Base system.  Built under a temporary name and renamed, so an
#    interrupted debootstrap never looks like a finished one.
if [ ! -f "$ROOT/.nst-base" ]; then
    command -v debootstrap >/dev/null || {
        log "installing debootstrap on the host"
        apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
    }
    rm -rf "$ROOT.partial" "$ROOT"
    log "debootstrap trixie into $ROOT (several minutes)"
    debootstrap --variant=minbase trixie "$ROOT.partial" "$MIRROR" >&2
    mv "$ROOT.partial" "$ROOT"
    # Daemons must never start inside the build root.
    printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
    chmod 755 "$ROOT/usr/sbin/policy-rc.d"
    touch "$ROOT/.nst-base"
fi
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true

# 2. GIMP and GObject introspection for Python.
pkg_stamp="$ROOT/.nst-packages-$(echo "$PACKAGES" | cksum | cut -d' ' -f1)"
if [ ! -f "$pkg_stamp" ]; then
    log "apt-get install $PACKAGES"
    in_root apt-get update -qq >&2
    in_root apt-get install -y -qq --no-install-recommends $PACKAGES >&2
    in_root apt-get clean
    rm -f "$ROOT"/.nst-packages-*
    touch "$pkg_stamp"
fi

# 3. Client-only venv: the client's packages at the host project's versions, so the
#    generated protobuf modules load with the runtime they were generated for.
host_python=${NST_HOST_PYTHON:-$REPO/.venv/bin/python}
[ -x "$host_python" ] || host_python=python3
pins=$("$host_python" - <<'EOF' 2>/dev/null || true
from importlib.metadata import version, PackageNotFoundError
for name in ("grpcio", "grpcio-health-checking", "protobuf"):
    try:
        print(f"{name}=={version(name)}", end=" ")
    except PackageNotFoundError:
        print(name, end=" ")
EOF
)
[ -n "$pins" ] || pins="grpcio grpcio-health-checking protobuf"
venv_stamp="$ROOT/.nst-venv-$(echo "$pins" | cksum | cut -d' ' -f1)"
if [ ! -f "$venv_stamp" ]; then
    log "venv $VENV with $pins"
    rm -rf "$ROOT$VENV"
    in_root python3 -m venv "$VENV"
    # Hosts behind a TLS-intercepting proxy trust an extra CA: lend the host's
    # bundle (and index URL, if any) to pip inside the root.
    pip_env=""
    for ca in "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
        if [ -n "$ca" ] && [ -f "$ca" ]; then
            cp "$ca" "$ROOT/etc/ssl/nst-host-ca.crt"
            pip_env="PIP_CERT=/etc/ssl/nst-host-ca.crt"
            break
        fi
    done
    [ -n "${PIP_INDEX_URL:-}" ] && pip_env="$pip_env PIP_INDEX_URL=$PIP_INDEX_URL"
    in_root /usr/bin/env $pip_env PIP_DEFAULT_TIMEOUT=120 \
        "$VENV/bin/pip" install -q --disable-pip-version-check $pins >&2
    rm -f "$ROOT"/.nst-venv-*
    touch "$venv_stamp"
fi

# 4. This repository's client packages (the client side shares nst_core's torch-free option declarations),
#    the plug-in and its installer, refreshed on every run (cheap), made
#    importable from the venv through a .pth file.
rm -rf "$ROOT$SRC.new"
mkdir -p "$ROOT$SRC.new"
for pkg in nst_core server protos gimp_plugin; do
    [ -d "$REPO/$pkg" ] && cp -r "$REPO/$pkg" "$ROOT$SRC.new/"
done
find "$ROOT$SRC.new" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$ROOT$SRC"
mv "$ROOT$SRC.new" "$ROOT$SRC"
site=$(ls -d "$ROOT$VENV"/lib/python3*/site-packages)
echo "$SRC" >"$site/nst-src.pth"

touch "$ROOT/.nst-ready"
echo "$ROOT"
