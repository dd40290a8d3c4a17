#!/usr/bin/env bash
# Install the time appliance from this offline bundle. Never uses the network.
#
#   ./install.sh [--prefix DIR] [--no-systemd] [--root DIR] [--python PYTHON] [--debs]
#   ./install.sh --uninstall [--prefix DIR] [--root DIR]
#
#   --prefix DIR   where the appliance goes: DIR/venv (the Python environment), DIR/share (docs,
#                  examples, manifests, this script). Default /opt/appliance.
#   --no-systemd   only the Python environment: no units, no user, no udev rule, no /etc/appliance.
#   --root DIR     install the system files (units, sysusers.d, tmpfiles.d, udev, /etc/appliance)
#                  under DIR instead of /, apply sysusers/tmpfiles to DIR, leave the running
#                  system alone (image builds, tests).
#   --python P     the interpreter for the environment (default: /usr/bin/python3, else python3
#                  on PATH). It must be the Python version the wheels were built for (BUNDLE-INFO),
#                  and, for the units, outside /root and /home (the service runs with ProtectHome=).
#   --debs[=P,Q]   first install the Debian packages the bundle carries (debs/, with dpkg -i):
#                  all of them, or only the named ones (--debs=linuxptp for a container image).
#   --uninstall    remove what an install put there; the state directory (/var/lib/appliance:
#                  the learned oscillator model, the bootstrap record) and the appliance user stay.
#
# Before anything else every file is checked against SHA256SUMS: a changed, missing or added file
# is refused by name. That proves the bundle is the one SHA256SUMS describes; compare the
# archive's own sha256 (the .sha256 file published beside it) to know SHA256SUMS is the one built.
set -euo pipefail

PROG=install.sh
BUNDLE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PREFIX=/opt/appliance
ROOT=/
SYSTEMD=1
UNINSTALL=0
PYTHON=
DEBS=0
DEB_NAMES=
# The path the units are written with; replaced by --prefix when they are installed.
UNIT_PREFIX=/opt/appliance

die() { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*"; }

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --prefix=*) PREFIX=${1#--prefix=}; shift ;;
        --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
        --root=*) ROOT=${1#--root=}; shift ;;
        --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PYTHON=$2; shift 2 ;;
        --python=*) PYTHON=${1#--python=}; shift ;;
        --no-systemd) SYSTEMD=0; shift ;;
        --debs) DEBS=1; shift ;;
        --debs=*) DEBS=1; DEB_NAMES=${1#--debs=}; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

# The prefix is written into unit files and shebangs: an absolute path of plain characters.
case "$PREFIX" in
    /*) ;;
    *) die "--prefix '$PREFIX' is not an absolute path" ;;
esac
[[ "$PREFIX" =~ ^[A-Za-z0-9._/+-]+$ ]] || die "--prefix '$PREFIX' has characters other than letters, digits and ._/+-"
PREFIX=${PREFIX%/}
[ -n "$PREFIX" ] || die "--prefix / is not allowed"
case "$ROOT" in
    /*) ;;
    *) die "--root '$ROOT' is not an absolute path" ;;
esac
ROOT=${ROOT%/}   # "" for the running system
LIVE=0
[ -z "$ROOT" ] && LIVE=1

MANIFEST="$PREFIX/.install-manifest"
if [ -z "$PYTHON" ]; then
    if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi

# A hermetic pip: no configuration file, index, find-links or cache from the environment.
hermetic_pip_env() {
    local v
    for v in $(compgen -e); do
        case "$v" in PIP_*|PYTHONPATH|PYTHONHOME|PYTHONUSERBASE|VIRTUAL_ENV) unset "$v" ;; esac
    done
    export PIP_CONFIG_FILE=/dev/null PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PIP_NO_CACHE_DIR=1
    export PYTHONNOUSERSITE=1
}

verify_bundle() {
    local sums="$BUNDLE_DIR/SHA256SUMS" hash path actual bad=0
    [ -f "$sums" ] || die "$BUNDLE_DIR has no SHA256SUMS: not a complete bundle; refusing to install"
    declare -A listed=()
    while IFS= read -r line || [ -n "$line" ]; do
        [ -n "$line" ] || continue
        hash=${line%%  *}
        path=${line#*  }
        if ! [[ "$hash" =~ ^[0-9a-f]{64}$ ]] || [ "$path" = "$line" ]; then
            die "SHA256SUMS: malformed line '$line'; refusing to install"
        fi
        case "$path" in
            /*|../*|*/../*|*/..) die "SHA256SUMS: path '$path' leaves the bundle; refusing to install" ;;
        esac
        listed[$path]=1
        if [ ! -f "$BUNDLE_DIR/$path" ]; then
            echo "$PROG: $path: missing from the bundle" >&2; bad=1; continue
        fi
        actual=$(sha256sum "$BUNDLE_DIR/$path" | cut -d' ' -f1)
        if [ "$actual" != "$hash" ]; then
            echo "$PROG: $path: checksum mismatch (changed after the bundle was built)" >&2; bad=1
        fi
    done < "$sums"
    while IFS= read -r -d '' path; do
        path=${path#./}
        [ "$path" = SHA256SUMS ] && continue
        if [ -z "${listed[$path]:-}" ]; then
            echo "$PROG: $path: not listed in SHA256SUMS (added after the bundle was built)" >&2; bad=1
        fi
    done < <(cd "$BUNDLE_DIR" && find . \( -type f -o -type l \) -print0)
    [ "$bad" = 0 ] || die "the bundle failed verification; refusing to install"
    note "verified $(wc -l < "$sums") files against SHA256SUMS"
}

bundle_info() {  # bundle_info KEY
    sed -n "s/^$1=//p" "$BUNDLE_DIR/BUNDLE-INFO"
}

check_target() {
    local want_py want_arch have_py arch
    want_py=$(bundle_info python)
    want_arch=$(bundle_info arch)
    arch=$(uname -m)
    [ "$arch" = "$want_arch" ] || die "this bundle is for $want_arch, this machine is $arch"
    command -v "$PYTHON" >/dev/null 2>&1 || die "no Python interpreter '$PYTHON' (the wheels need Python $want_py; give one with --python)"
    have_py=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') \
        || die "'$PYTHON' does not run"
    [ "$have_py" = "$want_py" ] || die "'$PYTHON' is Python $have_py; the wheels are for Python $want_py (give --python python$want_py)"
    "$PYTHON" -c 'import venv' 2>/dev/null || die "'$PYTHON' has no venv module (Debian: the python3-venv package, or libpython3-stdlib)"
    if [ "$SYSTEMD" = 1 ]; then
        local real
        real=$("$PYTHON" -c 'import os, sys; print(os.path.realpath(sys.executable))')
        case "$real" in
            /root/*|/home/*|/run/user/*)
                die "'$PYTHON' is $real: the service cannot reach it (ProtectHome=yes); give a system Python with --python" ;;
        esac
    fi
}

record() { echo "$*" >> "$MANIFEST.new"; }

install_file() {  # install_file SRC DEST MODE: copy, recording DEST for --uninstall
    mkdir -p "$(dirname "$2")"
    install -m "$3" "$1" "$2"
    record "file $2"
}

install_debs() {
    local debs=() name found
    if [ -n "$DEB_NAMES" ]; then
        for name in ${DEB_NAMES//,/ }; do
            found=("$BUNDLE_DIR"/debs/"$name"_*.deb)
            [ -e "${found[0]}" ] || die "--debs: the bundle carries no Debian package '$name' (it has: $(bundle_info debs))"
            debs+=("${found[@]}")
        done
    else
        debs=("$BUNDLE_DIR"/debs/*.deb)
        [ -e "${debs[0]}" ] || die "--debs: this bundle carries no Debian packages (build it with --debs)"
    fi
    [ "$LIVE" = 1 ] || die "--debs installs into the running system; it cannot be combined with --root"
    [ "$(id -u)" = 0 ] || die "--debs needs root (dpkg -i)"
    note "installing ${#debs[@]} Debian packages: ${debs[*]##*/}"
    # Installing chrony must not start it: it would steer the clock the appliance is about to own.
    local created_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created_policy=1
    fi
    local rc=0
    DEBIAN_FRONTEND=noninteractive dpkg -i "${debs[@]}" || rc=$?
    [ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "dpkg -i failed ($rc)"
}

install_venv() {
    local venv="$PREFIX/venv" pipwheel
    pipwheel=$(ls "$BUNDLE_DIR"/wheels/pip-*.whl 2>/dev/null | head -n1)
    [ -n "$pipwheel" ] || die "the bundle has no pip wheel"
    rm -rf "$venv"
    mkdir -p "$PREFIX"
    # --without-pip: Debian's python3 lacks ensurepip unless python3-venv is installed; pip comes
    # from the bundle's own wheel instead (a wheel runs as a zip: WHEEL/pip).
    "$PYTHON" -m venv --without-pip "$venv"
    "$venv/bin/python" "$pipwheel/pip" install --quiet --no-index --find-links "$BUNDLE_DIR/wheels" pip
    "$venv/bin/python" -m pip install --quiet --no-index --find-links "$BUNDLE_DIR/wheels" \
        --only-binary=:all: -r "$BUNDLE_DIR/requirements.txt"
    "$venv/bin/python" -m pip check >/dev/null || die "the installed environment is inconsistent: $("$venv/bin/python" -m pip check)"
    note "installed $("$venv/bin/appliance" --version) into $venv"
}

install_share() {
    local share="$PREFIX/share"
    rm -rf "$share"
    mkdir -p "$share"
    cp -R "$BUNDLE_DIR/doc" "$share/doc"
    cp -R "$BUNDLE_DIR/examples" "$share/examples"
    cp -R "$BUNDLE_DIR/kubernetes" "$share/kubernetes"
    cp "$BUNDLE_DIR/BUNDLE-INFO" "$share/BUNDLE-INFO"
    install -m 0755 "$BUNDLE_DIR/install.sh" "$share/install.sh"
}

unit_text() {  # the unit as shipped, with the install's prefix
    sed "s|$UNIT_PREFIX/|$PREFIX/|g" "$1"
}

install_systemd() {
    local sd="$BUNDLE_DIR/systemd" etc="$ROOT/etc" unit tmp
    if [ "$LIVE" = 1 ] && [ "$(id -u)" != 0 ]; then
        die "installing the units needs root (or --no-systemd for the Python environment alone)"
    fi
    for unit in appliance.service appliance-bootstrap.service; do
        mkdir -p "$etc/systemd/system"
        tmp=$(mktemp)
        unit_text "$sd/$unit" > "$tmp"
        install_file "$tmp" "$etc/systemd/system/$unit" 0644
        rm -f "$tmp"
    done
    install_file "$sd/sysusers.d/appliance.conf" "$etc/sysusers.d/appliance.conf" 0644
    install_file "$sd/tmpfiles.d/appliance.conf" "$etc/tmpfiles.d/appliance.conf" 0644
    install_file "$sd/udev/60-appliance.rules" "$etc/udev/rules.d/60-appliance.rules" 0644
    if [ ! -e "$etc/appliance" ]; then
        mkdir -p "$etc/appliance"
        record "dir $etc/appliance"
    fi
    if [ ! -e "$etc/appliance/appliance.yaml" ]; then
        install -m 0644 "$BUNDLE_DIR/examples/control-node.yaml" "$etc/appliance/appliance.yaml"
        record "config $(sha256sum "$etc/appliance/appliance.yaml" | cut -d' ' -f1) $etc/appliance/appliance.yaml"
        note "wrote the example configuration to $etc/appliance/appliance.yaml: edit it for this node"
    else
        note "kept the existing $etc/appliance/appliance.yaml"
    fi

    if [ "$LIVE" = 1 ]; then
        command -v systemd-sysusers >/dev/null && systemd-sysusers /etc/sysusers.d/appliance.conf
        command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create /etc/tmpfiles.d/appliance.conf
        if [ -d /run/systemd/system ]; then
            systemctl daemon-reload
            if command -v udevadm >/dev/null; then
                udevadm control --reload-rules || true
                udevadm trigger --action=add --subsystem-match=ptp --subsystem-match=pps --subsystem-match=rtc || true
            fi
            local other
            for other in chrony.service systemd-timesyncd.service ntp.service ntpsec.service; do
                if systemctl is-enabled --quiet "$other" 2>/dev/null; then
                    note "warning: $other is enabled; it conflicts with the appliance (two disciplines on one clock): systemctl disable --now $other"
                fi
            done
        fi
    else
        # Applied to the tree under --root only; the running system is not touched.
        command -v systemd-sysusers >/dev/null && systemd-sysusers --root="$ROOT" "$etc/sysusers.d/appliance.conf"
        command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --root="$ROOT" --create "$etc/tmpfiles.d/appliance.conf"
    fi
    record "units"
}

do_install() {
    verify_bundle
    check_target
    hermetic_pip_env
    [ "$DEBS" = 1 ] && install_debs
    mkdir -p "$PREFIX"
    if [ -f "$MANIFEST" ]; then
        note "upgrading the installation at $PREFIX"
    fi
    : > "$MANIFEST.new"
    install_venv
    install_share
    [ "$SYSTEMD" = 1 ] && install_systemd
    # An upgrade keeps the record of a configuration the first install wrote.
    if [ -f "$MANIFEST" ]; then
        grep -E '^(config|dir) ' "$MANIFEST" >> "$MANIFEST.new" || true
    fi
    sort -u "$MANIFEST.new" > "$MANIFEST"
    rm -f "$MANIFEST.new"
    if [ "$SYSTEMD" = 1 ]; then
        note "next: edit $ROOT/etc/appliance/appliance.yaml, check it with"
        note "  $PREFIX/venv/bin/appliance config check /etc/appliance/appliance.yaml"
        note "then: systemctl enable --now appliance.service"
    else
        note "run it with: $PREFIX/venv/bin/appliance serve --config FILE"
    fi
}

do_uninstall() {
    [ -f "$MANIFEST" ] || die "no installation at $PREFIX ($MANIFEST is missing)"
    local kind rest path hash units=0
    if grep -qx units "$MANIFEST" && [ "$LIVE" = 1 ] && [ -d /run/systemd/system ]; then
        systemctl disable --now appliance.service appliance-bootstrap.service 2>/dev/null || true
    fi
    while read -r kind rest; do
        case "$kind" in
            file) rm -f "$rest" ;;
            config)
                hash=${rest%% *}; path=${rest#* }
                if [ -f "$path" ] && [ "$(sha256sum "$path" | cut -d' ' -f1)" != "$hash" ]; then
                    note "kept $path (changed since it was installed)"
                else
                    rm -f "$path"
                fi ;;
            units) units=1 ;;
        esac
    done < "$MANIFEST"
    while read -r kind rest; do
        [ "$kind" = dir ] && { rmdir "$rest" 2>/dev/null || note "kept $rest (not empty)"; }
    done < "$MANIFEST"
    if [ "$units" = 1 ] && [ "$LIVE" = 1 ] && [ -d /run/systemd/system ]; then
        systemctl daemon-reload
        command -v udevadm >/dev/null && udevadm control --reload-rules || true
    fi
    rm -rf "$PREFIX/venv" "$PREFIX/share"
    rm -f "$MANIFEST"
    rmdir "$PREFIX" 2>/dev/null || true
    note "removed the appliance from $PREFIX"
    if [ "$units" = 1 ]; then
        note "kept the state directory $ROOT/var/lib/appliance (learned model, bootstrap record) and the user 'appliance'"
    fi
}

if [ "$UNINSTALL" = 1 ]; then
    do_uninstall
else
    do_install
fi
