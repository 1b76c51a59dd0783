#!/usr/bin/env bash
# Install the yizhan edge agent on Raspberry Pi OS (64-bit, Bookworm or newer) as a
# hardened systemd service, in the A/B release layout that remote updates use. Run as root:
#
#   sudo deploy/pi/install.sh --wheelhouse ./yizhan-0.2.0-aarch64 --release-key release-key.pub.json
#
# The wheelhouse is what `yizhan release build` + `yizhan release sign` make: every wheel
# the box runs and a manifest signed with the union's release key. Nothing is fetched from
# a package index; the box only ever installs what that key signed.
#
# What it does (each step is safe to run again; nothing existing is overwritten but the
# units, the udev rules and the journald limits, which belong to yizhan):
#   1. checks the system: 64-bit ARM (or --force), Python >= 3.11, systemd
#   2. apt: python3-venv, python3-lgpio (GPIO on every Pi, including the Pi 5), a time
#      sync service if none is installed; for the door's screen and voice: spidev and the
#      RPi.GPIO shim on lgpio (luma's SPI), fonts-wqy-microhei (Chinese on the screen),
#      espeak-ng (the spoken prompts, made offline) and alsa-utils (aplay plays them)
#   3. user `yizhan` (system, no login) in the groups gpio, video, dialout, i2c, spi, audio
#   4. /opt/yizhan (root-owned: the agent cannot change its own code), /etc/yizhan
#      (config, root:yizhan 0750), /var/lib/yizhan (state, yizhan 0750)
#   5. the release: /opt/yizhan/releases/<version>, `current` and `previous` pointing at it,
#      the release key pinned in /opt/yizhan/release-key.json (yizhan-edge-update bootstrap).
#      An install from before the A/B layout (/opt/yizhan/venv) migrates: the new layout is
#      built beside it, the units switch to it, then the old venv is removed; the box keeps
#      its claim, config and state. /etc/yizhan/edge.toml from deploy/examples/box.toml
#      when there is none (an unclaimed box: set its [provision] broker and password)
#   6. the door's spoken prompts: /var/lib/yizhan/voice/<reason>.<lang>.wav made by
#      espeak-ng (`python -m yizhan.box_clips`); WAV files the union put there are kept
#   7. udev rules, journald limits, time sync on, the units verified, enabled and started
#      (the agent; the installer's path unit, which runs an update the agent fetched)
#   8. with --rtc MODEL: the battery clock's driver in the boot config (ds3231, pcf8523,
#      pcf85063; "builtin" for the Pi 5's own), and fake-hwclock removed, which would
#      otherwise set the clock back to its last saved time after the RTC set it
#
# --root DIR stages the files under DIR instead (no apt, users, release or systemctl): how
# CI checks this script and the units without a Pi.
set -euo pipefail
# Files this creates are read by the agent (a sudo umask of 077 would lock it out), and no
# Python run as root here imports from the folder it was started in.
umask 022

PREFIX=/opt/yizhan
LEGACY_VENV=$PREFIX/venv
BOOTSTRAP_VENV=$PREFIX/.bootstrap
CONF_DIR=/etc/yizhan
STATE_DIR=/var/lib/yizhan
UNIT=yizhan-edge.service
UPDATE_UNITS=(yizhan-edge-update.service yizhan-edge-update.path)
SERVICE_USER=yizhan
GROUPS_WANTED=(gpio video dialout i2c spi audio)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

ROOT=""
WHEELHOUSE=""
RELEASE_KEY=""
FORCE=0
START=1
RTC=""
RTC_MODELS=(ds3231 pcf8523 pcf85063 builtin)

usage() {
    sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//'
    echo "options: --wheelhouse DIR  --release-key FILE  --root DIR  --rtc MODEL  --no-start  --force  --help"
}

die() {
    echo "install.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --wheelhouse) WHEELHOUSE=${2:?--wheelhouse needs the folder yizhan release sign wrote}; shift 2 ;;
        --release-key) RELEASE_KEY=${2:?--release-key needs the release public key file}; shift 2 ;;
        --source) die "--source is gone: install a signed wheelhouse (--wheelhouse DIR --release-key FILE; see deploy/pi/README.md)" ;;
        --root) ROOT=${2:?--root needs a folder}; shift 2 ;;
        --rtc) RTC=${2:?--rtc needs a model: ${RTC_MODELS[*]}}; shift 2 ;;
        --no-start) START=0; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (try --help)" ;;
    esac
done

staging() { [ -n "$ROOT" ]; }

check_rtc_model() {
    [ -z "$RTC" ] && return 0
    local model
    for model in "${RTC_MODELS[@]}"; do
        [ "$RTC" = "$model" ] && return 0
    done
    die "unknown RTC '$RTC'; use one of: ${RTC_MODELS[*]}"
}

check_system() {
    staging && return 0
    [ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 …)"
    [ -n "$WHEELHOUSE" ] || die "say what to install: --wheelhouse DIR (from yizhan release build + sign)"
    [ -f "$WHEELHOUSE/manifest.json" ] || die "$WHEELHOUSE has no manifest.json: sign it first (yizhan release sign)"
    [ -n "$RELEASE_KEY" ] || die "say which release key to trust: --release-key release-key.pub.json"
    [ -f "$RELEASE_KEY" ] || die "no release key file at $RELEASE_KEY"
    command -v systemctl >/dev/null || die "systemd is required"
    local arch
    arch=$(uname -m)
    if [ "$arch" != aarch64 ] && [ "$FORCE" -eq 0 ]; then
        die "this is $arch, not 64-bit Raspberry Pi OS (aarch64); --force to install anyway"
    fi
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "Python 3.11 or newer is required (Raspberry Pi OS Bookworm has it)"
}

install_packages() {
    staging && return 0
    local packages=(python3-venv python3-lgpio python3-spidev python3-rpi-lgpio
        fonts-wqy-microhei espeak-ng alsa-utils)
    # A door decides on its own clock (member codes live a minute): keep it synced.
    if ! dpkg -s chrony >/dev/null 2>&1 && ! dpkg -s systemd-timesyncd >/dev/null 2>&1; then
        packages+=(systemd-timesyncd)
    fi
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${packages[@]}"
}

create_user() {
    staging && return 0
    getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
    id -u "$SERVICE_USER" >/dev/null 2>&1 ||
        useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "yizhan edge agent" "$SERVICE_USER"
    local group
    for group in "${GROUPS_WANTED[@]}"; do
        getent group "$group" >/dev/null || groupadd --system "$group"
        usermod --append --groups "$group" "$SERVICE_USER"
    done
}

# install -d with owner and mode; ownership only outside staging (the stage has no users).
make_dir() {
    local mode=$1 owner=$2 dir=$3
    if staging; then
        install -d -m "$mode" "$ROOT$dir"
    else
        install -d -m "$mode" -o "${owner%:*}" -g "${owner#*:}" "$dir"
    fi
}

put_file() {
    local mode=$1 source=$2 target=$3
    install -D -m "$mode" "$source" "$ROOT$target"
}

make_layout() {
    make_dir 0755 root:root "$PREFIX"
    make_dir 0750 "root:$SERVICE_USER" "$CONF_DIR"
    make_dir 0750 "$SERVICE_USER:$SERVICE_USER" "$STATE_DIR"
}

install_release() {
    staging && return 0
    # A throw-away environment, offline from the wheelhouse, only to run the bootstrap,
    # which builds the real release (its wheels unpacked once into /opt/yizhan/store).
    rm -rf "$BOOTSTRAP_VENV"
    python3 -m venv "$BOOTSTRAP_VENV"
    "$BOOTSTRAP_VENV/bin/python" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" yizhan ||
        die "the wheelhouse $WHEELHOUSE does not install offline (is it for this machine?)"
    # System site packages: the GPIO library (lgpio) comes from apt, built for this kernel.
    (cd / && "$BOOTSTRAP_VENV/bin/python" -I -m yizhan.box_update bootstrap --root "$PREFIX" \
        --wheelhouse "$(realpath "$WHEELHOUSE")" --key "$(realpath "$RELEASE_KEY")" \
        --system-site-packages) ||
        die "the release did not install; nothing was changed for the running agent"
    rm -rf "$BOOTSTRAP_VENV"
    (cd / && "$PREFIX/current/bin/python" -I -m yizhan.box --help >/dev/null) ||
        die "the installed release does not run"
}

make_voice_clips() {
    staging && return 0
    # Made as the agent's user, folder and files, inside its state: root never follows a
    # link the agent could have put there. A union's own recordings there are kept.
    (cd / && runuser -u "$SERVICE_USER" -- install -d -m 0750 "$STATE_DIR/voice" &&
        runuser -u "$SERVICE_USER" -- "$PREFIX/current/bin/python" -I -m yizhan.box_clips \
            --out "$STATE_DIR/voice") ||
        echo "warning: the door's spoken prompts were not made; the door works without them" >&2
}

remove_legacy_venv() {
    staging && return 0
    # Before the A/B layout the unit ran /opt/yizhan/venv; the units now point at current.
    if [ -d "$LEGACY_VENV" ]; then
        rm -rf "$LEGACY_VENV"
        echo "migrated: $LEGACY_VENV removed; the agent runs $PREFIX/current"
    fi
}

install_config() {
    local target=$CONF_DIR/edge.toml
    if [ -e "$ROOT$target" ]; then
        echo "keeping $target"
        return 0
    fi
    # 0640 root:yizhan: the agent reads its provisioning password, and cannot change it.
    put_file 0640 "$HERE/../examples/box.toml" "$target"
    staging || chgrp "$SERVICE_USER" "$target"
    echo "wrote $target: set [provision] mqtt_host and password, and [hardware] kind = \"real\""
}

install_system_files() {
    put_file 0644 "$HERE/$UNIT" "/etc/systemd/system/$UNIT"
    local unit
    for unit in "${UPDATE_UNITS[@]}"; do
        put_file 0644 "$HERE/$unit" "/etc/systemd/system/$unit"
    done
    put_file 0644 "$HERE/60-yizhan.rules" /etc/udev/rules.d/60-yizhan.rules
    put_file 0644 "$HERE/journald-yizhan.conf" /etc/systemd/journald.conf.d/60-yizhan.conf
}

# The boot config's folder: /boot/firmware since Bookworm, /boot before it.
boot_config() {
    if [ -d "$ROOT/boot/firmware" ] || staging; then
        echo "$ROOT/boot/firmware/config.txt"
    else
        echo "/boot/config.txt"
    fi
}

enable_rtc() {
    [ -z "$RTC" ] && return 0
    if [ "$RTC" != builtin ]; then
        local config line="dtoverlay=i2c-rtc,$RTC"
        config=$(boot_config)
        install -d "$(dirname "$config")"
        touch "$config"
        grep -qxF "$line" "$config" || printf '%s\n' "$line" >>"$config"
        echo "$config: $line (the RTC is there after the next reboot)"
    fi
    if ! staging && dpkg -s fake-hwclock >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y fake-hwclock
    fi
    echo "set [hardware] rtc = true in $CONF_DIR/edge.toml: the door then trusts the RTC's time"
}

enable_time_sync() {
    staging && return 0
    timedatectl set-ntp true || echo "warning: could not turn on time sync (timedatectl)" >&2
    if [ -z "$RTC" ] && [ ! -e /dev/rtc0 ]; then
        echo "warning: no real-time clock (/dev/rtc0). A door that boots without network" \
            "judges codes by the last time it saved until it syncs or sees a fresh code:" \
            "fit an RTC (--rtc ds3231; the Pi 5 has one, add its battery)." >&2
    fi
}

activate() {
    staging && return 0
    udevadm control --reload-rules && udevadm trigger
    systemctl restart systemd-journald
    systemd-analyze verify "/etc/systemd/system/$UNIT" "/etc/systemd/system/${UPDATE_UNITS[0]}"
    systemctl daemon-reload
    systemctl enable "$UNIT" yizhan-edge-update.path
    systemctl start yizhan-edge-update.path
    if [ "$START" -eq 1 ]; then
        systemctl restart "$UNIT"
        echo "started: systemctl status $UNIT shows its state (an unclaimed box: its label);"
        echo "  its state and label: journalctl -u $UNIT; the release: $PREFIX/current/bin/python -m yizhan.box_update status"
    fi
}

check_rtc_model
check_system
install_packages
create_user
make_layout
install_release
install_config
make_voice_clips
install_system_files
enable_time_sync
enable_rtc
activate
remove_legacy_venv
echo "yizhan edge installed${ROOT:+ under $ROOT}"
