#!/usr/bin/env bash
# Prove an aarch64 release on the boxes' own architecture, emulated (slow: run it outside CI).
#
#   a. `yizhan release build` for aarch64: a wheel for every dependency a box runs (the
#      issue's manylinux_2_17 floor first, then the boxes' own platform, $ARM64_PLATFORM),
#      signed with a release key (`yizhan release keygen`, `yizhan release sign`)
#   b. an arm64 Debian bookworm root made with Debian's debootstrap, run by qemu-user-static
#      (binfmt_misc when this machine lets us register qemu; `--foreign` and qemu -L if not)
#   c. the signed wheelhouse installed OFFLINE into /opt/yizhan of that root the way
#      deploy/pi/install.sh installs a box: a throw-away venv runs `yizhan.box_update
#      bootstrap`, which unpacks the wheels into store/, builds releases/<version> and points
#      current and previous at it (ARM64_INSTALL=pip: the older proof, one plain venv)
#   d. `yizhan edge check-config` and a short sensor-hub run on firmware_sim, from the
#      installed release's Python, talking to a broker and the cloud's ingest on this machine
#
# Usage: sudo ops/arm64/prove.sh            (root: debootstrap, chroot, binfmt_misc)
# Environment (defaults): ARM64_ROOT=/work/arm64-root (never inside the repository),
#   ARM64_OUT=/work/arm64-proof, ARM64_PLATFORM=manylinux_2_36_aarch64 (bookworm's glibc),
#   ARM64_DURATION=20 (seconds of the sensor-hub run), ARM64_LOG=$ARM64_OUT/prove.log,
#   ARM64_INSTALL=ab (or pip), ARM64_REBUILD=0 (1: build even when a folder in $ARM64_OUT
#   was built from this source and the lock), DEBIAN_MIRROR=http://deb.debian.org/debian,
#   YZ=<repo>/.venv/bin/yizhan
set -euo pipefail
# In braces: bash reads the whole script before running it, so editing it mid-run is safe.
{

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
YZ=${YZ:-$REPO/.venv/bin/yizhan}
HOST_PY=$REPO/.venv/bin/python
ROOT=${ARM64_ROOT:-/work/arm64-root}
OUT=${ARM64_OUT:-/work/arm64-proof}
PLATFORM=${ARM64_PLATFORM:-manylinux_2_36_aarch64}
DURATION=${ARM64_DURATION:-20}
INSTALL=${ARM64_INSTALL:-ab}
REBUILD=${ARM64_REBUILD:-0}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOG=${ARM64_LOG:-$OUT/prove.log}
QEMU=/usr/bin/qemu-aarch64-static
PREFIX=/opt/yizhan                    # the box's install root, as deploy/pi/install.sh's
BOOTSTRAP_VENV=$PREFIX/.bootstrap     # install.sh's throw-away environment
LEGACY_VENV=$PREFIX/venv              # ARM64_INSTALL=pip
BOX_WHEELHOUSE=/root/yizhan-release   # where a technician copies the signed folder
BOX_KEY=/root/release-key.pub.json
KEYDIR=$OUT/release-key               # the proof's own release key, made once
RUN_ID=$(date -u +%Y%m%dT%H%M%SZ)

case "$ROOT" in
    "$REPO"/*|/|"") echo "ARM64_ROOT=$ROOT must be outside the repository" >&2; exit 2 ;;
esac
case "$INSTALL" in
    ab|pip) ;;
    *) echo "ARM64_INSTALL=$INSTALL: use ab (the A/B layout, default) or pip" >&2; exit 2 ;;
esac
mkdir -p "$OUT"
exec > >(tee -a "$LOG") 2>&1

# Each step's wall time, for the summary at the end (also when a step fails).
STEP_NAMES=() STEP_SECONDS=() STEP_NAME="" STEP_START=0
end_step() {
    [ -n "$STEP_NAME" ] || return 0
    STEP_NAMES+=("$STEP_NAME")
    STEP_SECONDS+=("$(( $(date +%s) - STEP_START ))")
    STEP_NAME=""
}
step() {
    end_step
    local heading="$*"
    STEP_NAME=${heading:0:90}; STEP_START=$(date +%s)
    printf '\n=== %s  [%s]\n' "$*" "$(date -u +%H:%M:%S)"
}
timings() {
    end_step
    printf '\n=== step timings (wall seconds)\n'
    local i
    for i in "${!STEP_NAMES[@]}"; do printf '%6s s  %s\n' "${STEP_SECONDS[$i]}" "${STEP_NAMES[$i]}"; done
}
BACKGROUND=()
cleanup() {
    local rc=$?
    for pid in "${BACKGROUND[@]}"; do kill "$pid" 2>/dev/null || true; done
    timings
    [ "$rc" -eq 0 ] || [ "${#STEP_NAMES[@]}" -eq 0 ] ||
        printf '\n=== proof FAILED (exit %s) in: %s\n' "$rc" "${STEP_NAMES[-1]}"
}
trap cleanup EXIT

# The source a release is built from: the tracked files' blobs but this proof's own (a
# commit that changes only ops/arm64 keeps it, so its wheels are reused). The wheel is built
# from the working tree: an uncommitted change elsewhere makes a source never reused.
SOURCE_ID=tree-$(git -C "$REPO" ls-files -s -- . ':(exclude)ops/arm64' | sha256sum | cut -c1-12)
if [ -n "$(git -C "$REPO" status --porcelain -- . ':(exclude)ops/arm64')" ]; then
    SOURCE_ID="$SOURCE_ID+changes-$RUN_ID"
fi
step "proof $RUN_ID on $(uname -m), $(uname -r); commit $(git -C "$REPO" rev-parse --short HEAD), source $SOURCE_ID; install: $INSTALL"

# --- a. the wheels ------------------------------------------------------------------------
step "a1. release build --platform manylinux_2_17_aarch64 (the issue's floor: glibc 2.17)"
if "$YZ" release build --platform manylinux_2_17_aarch64 --out "$OUT/floor-2_17-$RUN_ID"; then
    echo "every box dependency has a manylinux_2_17_aarch64 wheel"
else
    echo "(exit $?: the lines above name each wheel that needs a newer glibc)"
fi

# reusable_release: the newest $OUT/release-* built for $PLATFORM from this source
# (release.json's notes name it) whose every wheel is the lock's version; empty if none.
reusable_release() {
    "$HOST_PY" - "$OUT" "$SOURCE_ID" "$PLATFORM" "$REPO/constraints.txt" <<'PY'
import json, sys
from pathlib import Path
from packaging.utils import canonicalize_name, parse_wheel_filename
from yizhan.release.lock import read_lock

out, source, platform, lock_path = Path(sys.argv[1]), *sys.argv[2:]
lock = read_lock(Path(lock_path))
for folder in sorted(out.glob("release-*"), reverse=True):
    try:
        release = json.loads((folder / "release.json").read_text())
    except (OSError, ValueError):
        continue
    if f"source {source}, {platform}" not in release.get("notes", ""):
        print(f"not reused: {folder.name} was built from another source", file=sys.stderr)
        continue
    off = []
    for wheel in release["wheels"]:
        name, version, *_ = parse_wheel_filename(wheel["name"])
        if name != canonicalize_name("yizhan") and lock.pins.get(name) != version:
            off.append(f"{name} {version} (lock: {lock.pins.get(name)})")
    if off:
        print(f"not reused: {folder.name} differs from the lock: {', '.join(off)}", file=sys.stderr)
        continue
    print(folder)
    break
PY
}
step "a2. the release for $PLATFORM (the boxes' own: Debian bookworm, glibc 2.36)"
RELEASE=""
[ "$REBUILD" = 1 ] || RELEASE=$(reusable_release)
if [ -n "$RELEASE" ]; then
    echo "reusing $RELEASE: built from source $SOURCE_ID, every wheel the lock's version"
else
    RELEASE=$OUT/release-$RUN_ID
    "$YZ" release build --platform "$PLATFORM" --out "$RELEASE" \
        --notes "aarch64 proof $RUN_ID, source $SOURCE_ID, $PLATFORM"
fi
VERSION=$("$HOST_PY" -c \
    'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$RELEASE/release.json")
step "a3. release key and signature"
if [ -f "$KEYDIR/release-key.pem" ]; then
    echo "the proof's release key: $KEYDIR (made earlier)"
else
    "$YZ" release keygen --out "$KEYDIR"
fi
"$YZ" release sign "$RELEASE" --key "$KEYDIR/release-key.pem"
"$YZ" release show "$RELEASE" 2>&1 | tail -n 1  # its last line; the table is in a2

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
    if [ "$INSTALL" = ab ]; then
        # The bootstrap starts aarch64 programs itself (python -m venv, the import check).
        echo "the A/B bootstrap needs binfmt_misc; ARM64_INSTALL=pip proves the wheels without it" >&2
        exit 3
    fi
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
# Each box starts from nothing: no earlier install, release or outbox of an earlier proof.
rm -rf "${ROOT:?}$PREFIX" "${ROOT:?}$BOX_WHEELHOUSE" "${ROOT:?}/var/lib/yizhan"
cp -a "$RELEASE" "$ROOT$BOX_WHEELHOUSE"
cp "$KEYDIR/release-key.pub.json" "$ROOT$BOX_KEY"

install_ab() {
    step "c1. throw-away venv $BOOTSTRAP_VENV: pip install --no-index yizhan (install.sh's install_release)"
    time in_root /usr/bin/python3 -m venv "$BOOTSTRAP_VENV"  # ensurepip: slow, emulated
    time in_root "$BOOTSTRAP_VENV/bin/python" -m pip install --no-index --progress-bar off \
        --disable-pip-version-check --find-links "$BOX_WHEELHOUSE" yizhan
    step "c2. yizhan.box_update bootstrap --root $PREFIX (unpack into store/, build the release)"
    time in_root "$BOOTSTRAP_VENV/bin/python" -m yizhan.box_update bootstrap --root "$PREFIX" \
        --wheelhouse "$BOX_WHEELHOUSE" --key "$BOX_KEY" --system-site-packages
    rm -rf "${ROOT:?}$BOOTSTRAP_VENV"
    echo "removed the throw-away $BOOTSTRAP_VENV"
    step "c3. the A/B layout"
    in_root ls -la "$PREFIX"
    in_root readlink "$PREFIX/current" "$PREFIX/previous"
    in_root du -sh "$PREFIX/store" "$PREFIX/releases/$VERSION"
    echo "store entries: $(find "$ROOT$PREFIX/store" -mindepth 1 -maxdepth 1 | wc -l)" \
        "for $(find "$RELEASE" -name '*.whl' | wc -l) wheels in the release"
    time in_root "$PREFIX/current/bin/python" -m yizhan.box_update status --root "$PREFIX"
    # install.sh's last check of install_release.
    in_root "$PREFIX/current/bin/python" -m yizhan.box --help >/dev/null
    echo "$PREFIX/current/bin/python -m yizhan.box --help: runs"
    PY=$PREFIX/current/bin/python
}

install_pip() {
    step "c1. pip: every wheel into one venv $LEGACY_VENV (the earlier proof; no A/B layout)"
    in_root /usr/bin/python3 -m venv "$(box_path "$LEGACY_VENV")"
    # Every wheel of the release named, not just yizhan: the venv's own seeded setuptools and
    # pip are then replaced by the release's versions too, so the box runs exactly the lock.
    local wheels
    wheels=$(cd "$ROOT$BOX_WHEELHOUSE" && for wheel in *.whl; do
        box_path "$BOX_WHEELHOUSE/$wheel"; done)
    # shellcheck disable=SC2086 # one argument per wheel file
    time in_root "$LEGACY_VENV/bin/python" -m pip install --no-index --only-binary=:all: \
        --disable-pip-version-check --find-links "$(box_path "$BOX_WHEELHOUSE")" $wheels
    in_root "$LEGACY_VENV/bin/python" -m pip check
    PY=$LEGACY_VENV/bin/python
}

PY=""
if [ "$INSTALL" = ab ]; then install_ab; else install_pip; fi
step "c4. the compiled wheels load from $PY"
# An import runs each one's aarch64 machine code.
in_root "$PY" -c '
import platform, sys
from importlib.metadata import version
import cv2, numpy, zxingcpp, pydantic_core, psycopg, sqlalchemy, yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
Ed25519PrivateKey.generate().sign(b"x")
names = ["yizhan", "opencv-python-headless", "numpy", "zxing-cpp", "pydantic-core",
         "cryptography", "psycopg-binary", "sqlalchemy", "pyyaml"]
print(sys.prefix, "on", platform.machine() + ":",
      ", ".join(f"{name} {version(name)}" for name in names), "- libpq", psycopg.pq.version())
print("numpy from", numpy.__file__)'

# --- d. the box runs ----------------------------------------------------------------------
step "d. a broker and the cloud's ingest on this machine"
PORT=$("$HOST_PY" -c \
    'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$YZ" broker --port "$PORT" --data-dir "$OUT/broker-$RUN_ID" &
BACKGROUND+=($!)
for _ in $(seq 50); do
    "$HOST_PY" -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$PORT" 2>/dev/null && break
    sleep 0.2
done
# The cloud's ingest: it stores the box's readings and confirms them, so the box's closing
# line counts rows the cloud confirmed, end to end.
"$YZ" cloud migrate --data-dir "$OUT/cloud-$RUN_ID"
"$YZ" cloud ingest --data-dir "$OUT/cloud-$RUN_ID" --mqtt-port "$PORT" &
BACKGROUND+=($!)
mkdir -p "$ROOT/etc/yizhan" "$ROOT/var/lib/yizhan"
cat > "$ROOT/etc/yizhan/hub.toml" <<TOML
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
TOML
cat "$ROOT/etc/yizhan/hub.toml"
step "d1. $PY -m yizhan edge check-config"
time in_root "$PY" -m yizhan edge check-config "$(box_path /etc/yizhan/hub.toml)"
step "d2. $PY -m yizhan edge run --duration $DURATION"
time in_root "$PY" -m yizhan edge run --config "$(box_path /etc/yizhan/hub.toml)" \
    --duration "$DURATION"
kill -INT "${BACKGROUND[1]}" && wait "${BACKGROUND[1]}" || true  # ingest: its own summary
step "proof done: yizhan $VERSION for aarch64 installed offline ($INSTALL) and ran in $ROOT ($MODE)"
exit 0
}
