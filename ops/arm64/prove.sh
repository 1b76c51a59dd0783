#!/usr/bin/env bash
# Prove an aarch64 release on the boxes' own architecture, emulated (slow: run it outside CI).
#
#   a. `yizhan release build` for aarch64: a wheel for every dependency a box runs (the
#      issue's manylinux_2_17 floor first, then the boxes' own platform, $ARM64_PLATFORM)
#   b. an arm64 Debian bookworm root made with Debian's debootstrap, run by qemu-user-static
#      (binfmt_misc when this machine lets us register qemu; `--foreign` and qemu -L if not)
#   c. the wheelhouse installed OFFLINE into a venv inside that root (no index, no builds)
#   d. `yizhan edge check-config` and a short sensor-hub run on firmware_sim, talking to a
#      broker on this machine
#
# Usage: sudo ops/arm64/prove.sh            (root: debootstrap, chroot, binfmt_misc)
# Environment (defaults): ARM64_ROOT=/work/arm64-root (never inside the repository),
#   ARM64_OUT=/work/arm64-proof, ARM64_PLATFORM=manylinux_2_36_aarch64 (bookworm's glibc),
#   ARM64_DURATION=20 (seconds of the sensor-hub run), ARM64_LOG=$ARM64_OUT/prove.log,
#   DEBIAN_MIRROR=http://deb.debian.org/debian, YZ=<repo>/.venv/bin/yizhan
set -euo pipefail
# In braces: bash reads the whole script before running it, so editing it mid-run is safe.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
YZ=${YZ:-$REPO/.venv/bin/yizhan}
ROOT=${ARM64_ROOT:-/work/arm64-root}
OUT=${ARM64_OUT:-/work/arm64-proof}
PLATFORM=${ARM64_PLATFORM:-manylinux_2_36_aarch64}
DURATION=${ARM64_DURATION:-20}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG=${ARM64_LOG:-$OUT/prove.log}
QEMU=/usr/bin/qemu-aarch64-static
VENV=/opt/yizhan/venv
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)
RELEASE=$OUT/release-$RUN_ID

case "$ROOT" in
    "$REPO"/*|/|"") echo "ARM64_ROOT=$ROOT must be outside the repository" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
exec > >(tee -a "$LOG") 2>&1

step() { printf '\n=== %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"; }
BACKGROUND=()
cleanup() { for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

step "proof $RUN_ID on $(uname -m), $(uname -r); repository $(git -C "$REPO" rev-parse --short HEAD)"

# --- a. the wheels ------------------------------------------------------------------------
step "a1. release build --platform manylinux_2_17_aarch64 (the issue's floor: glibc 2.17)"
if "$YZ" release build --platform manylinux_2_17_aarch64 --out "$OUT/floor-2_17-$RUN_ID"; then
    echo "every box dependency has a manylinux_2_17_aarch64 wheel"
else
    echo "(exit $?: the lines above name each wheel that needs a newer glibc)"
fi
step "a2. release build --platform $PLATFORM (the boxes' own: Debian bookworm, glibc 2.36)"
"$YZ" release build --platform "$PLATFORM" --out "$RELEASE" --notes "aarch64 proof $RUN_ID"
VERSION=$("$REPO/.venv/bin/python" -c \
    'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$RELEASE/release.json")

# --- b. the arm64 root --------------------------------------------------------------------
step "b. arm64 Debian bookworm root at $ROOT"
binfmt_ready() { [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] && \
    grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64; }
if ! binfmt_ready; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || \
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
    # The qemu-user-static registration (its F flag: the kernel keeps qemu open, so it runs
    # inside the chroot too). Magic and mask: an ELF64 little-endian executable for aarch64.
    printf '%s' ':qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$QEMU"':F' \
        > /proc/sys/fs/binfmt_misc/register 2>/dev/null || true
fi
if binfmt_ready; then
    MODE=chroot
    echo "binfmt_misc runs aarch64 binaries through $QEMU"
else
    MODE=qemu
    echo "binfmt_misc is not available: debootstrap --foreign, binaries run by $QEMU -L $ROOT"
fi
if [ -x "$ROOT/usr/bin/python3" ] && [ -e "$ROOT/.yizhan-proof-root" ]; then
    echo "reusing the root made $(cat "$ROOT/.yizhan-proof-root")"
elif [ "$MODE" = chroot ]; then
    debootstrap --arch=arm64 --variant=minbase --include=python3,python3-venv \
        bookworm "$ROOT" "$MIRROR"
    date -u +%FT%TZ > "$ROOT/.yizhan-proof-root"
else
    debootstrap --foreign --arch=arm64 --variant=minbase --include=python3,python3-venv \
        bookworm "$ROOT" "$MIRROR"
    # The second stage needs to run arm64 binaries; without binfmt, unpack the debs instead.
    for deb in "$ROOT"/var/cache/apt/archives/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done
    date -u +%FT%TZ > "$ROOT/.yizhan-proof-root"
fi

# in_root CMD…: run an aarch64 command of the root, as the box would.
in_root() {
    if [ "$MODE" = chroot ]; then
        chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
            LANG=C.UTF-8 TZ=UTC "$@"
    else
        local program=$1; shift
        case "$program" in /*) ;; *) program=/usr/bin/$program ;; esac
        # python reads its prefix from its own path: give it the root's path on this machine.
        env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 TZ=UTC QEMU_LD_PREFIX="$ROOT" \
            "$QEMU" -L "$ROOT" "$ROOT$program" "$@"
    fi
}
# A path inside the root, as the box's commands see it.
box_path() { if [ "$MODE" = chroot ]; then echo "$1"; else echo "$ROOT$1"; fi; }
in_root /usr/bin/python3 -c 'import platform, sys; print("box:", platform.machine(), sys.version.split()[0])'
in_root /usr/bin/ldd --version | head -1 || true

# --- c. offline install -------------------------------------------------------------------
step "c. install yizhan $VERSION from the wheelhouse, offline, into $VENV"
rm -rf "$ROOT/opt/yizhan"
mkdir -p "$ROOT/opt/yizhan"
cp -a "$RELEASE" "$ROOT/opt/yizhan/wheelhouse"
in_root /usr/bin/python3 -m venv "$(box_path "$VENV")"
# Every wheel of the release named, not just yizhan: the venv's own seeded setuptools and
# pip are then replaced by the release's versions too, so the box runs exactly the lock.
WHEELS=$(cd "$ROOT/opt/yizhan/wheelhouse" && for wheel in *.whl; do
    box_path "/opt/yizhan/wheelhouse/$wheel"; done)
# shellcheck disable=SC2086 # one argument per wheel file
time in_root "$VENV/bin/python" -m pip install --no-index --only-binary=:all: \
    --disable-pip-version-check --find-links "$(box_path /opt/yizhan/wheelhouse)" $WHEELS
in_root "$VENV/bin/python" -m pip check
# The compiled wheels load (an import runs each one's aarch64 machine code).
in_root "$VENV/bin/python" -c '
import platform
from importlib.metadata import version
import cv2, numpy, zxingcpp, pydantic_core, psycopg, sqlalchemy, yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
Ed25519PrivateKey.generate().sign(b"x")
names = ["opencv-python-headless", "numpy", "zxing-cpp", "pydantic-core", "cryptography",
         "psycopg-binary", "sqlalchemy", "pyyaml"]
print("compiled wheels load on", platform.machine() + ":",
      ", ".join(f"{name} {version(name)}" for name in names), "- libpq", psycopg.pq.version())'

# --- d. the box runs ----------------------------------------------------------------------
step "d. a sensor hub on firmware_sim, under emulation"
PORT=$("$REPO/.venv/bin/python" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$YZ" broker --port "$PORT" --data-dir "$OUT/broker-$RUN_ID" &
BACKGROUND+=($!)
for _ in $(seq 50); do
    "$REPO/.venv/bin/python" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$PORT" 2>/dev/null && break
    sleep 0.2
done
# The cloud's ingest on this machine: it stores the box's readings and confirms them, so the
# box's closing line counts rows the cloud confirmed, end to end.
"$YZ" cloud migrate --data-dir "$OUT/cloud-$RUN_ID"
"$YZ" cloud ingest --data-dir "$OUT/cloud-$RUN_ID" --mqtt-port "$PORT" &
BACKGROUND+=($!)
rm -rf "$ROOT/var/lib/yizhan"  # a fresh outbox: the closing line counts this run only
mkdir -p "$ROOT/etc/yizhan" "$ROOT/var/lib/yizhan"
cat > "$ROOT/etc/yizhan/hub.toml" <<EOF
# A claimed sensor hub on firmware_sim (the proof's; ids as a technician's claim gives them).
venue = "arm64-proof"
device = "arm64-hub-1"
role = "sensor-hub"
data_dir = "$(box_path /var/lib/yizhan)"
mqtt_host = "127.0.0.1"
mqtt_port = $PORT
sample_interval_s = 1
resend_after_s = 5

[hardware]
kind = "sim"
profile = "outdoor-station"
speed = 60
EOF
cat "$ROOT/etc/yizhan/hub.toml"
step "d1. yizhan edge check-config"
time in_root "$VENV/bin/python" -m yizhan edge check-config "$(box_path /etc/yizhan/hub.toml)"
step "d2. yizhan edge run --duration $DURATION"
time in_root "$VENV/bin/python" -m yizhan edge run --config "$(box_path /etc/yizhan/hub.toml)" \
    --duration "$DURATION"
kill -INT "${BACKGROUND[1]}" && wait "${BACKGROUND[1]}" || true  # ingest: its own summary
step "proof done: yizhan $VERSION for aarch64 installed offline and ran in $ROOT ($MODE)"
exit 0
}
