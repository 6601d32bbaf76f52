#!/usr/bin/env bash
# Install agent as a service on Debian or Raspberry Pi OS, from this checkout, as root:
#
#   sudo systemd/install.sh                          # extras: influx
#   sudo systemd/install.sh --extras postgres,serial,influx
#   sudo systemd/install.sh --uninstall [--purge]
#
# (`sudo sh systemd/install.sh` works too: the script starts itself again under bash.)
#
# What it does (every step is idempotent; run it again after `git pull` to upgrade):
#   - a virtual environment in /opt/agent (python3 -m venv; apt-get installs python3-venv
#     when it is missing), its pip upgraded first, with the agent and the extras asked for,
#     pip-installed from here. Where PyPI has no psycopg-binary wheel (32-bit ARM: armv7l),
#     the postgres extra becomes pure-Python psycopg over Debian's libpq5 (apt-get installs it);
#   - /usr/local/bin/agent -> /opt/agent/bin/agent (the path the units and Telegraf configs use);
#   - systemd/agent@.service and systemd/telegraf@.service into /etc/systemd/system;
#   - /etc/agent with the example configs (*.toml) and env files (agent-*.env, 0600 root), and
#     /etc/agent/credentials (0700); /etc/telegraf likewise (telegraf/*.conf, telegraf-*.env).
#     Files that already exist are never overwritten: your edits survive a reinstall.
#   - systemctl daemon-reload when systemd is running. Nothing is enabled or started.
#
# --uninstall stops and disables agent@* and telegraf@* instances, removes the venv, the link
# and the units, and leaves /etc/agent and the files in /etc/telegraf; --purge removes those
# too, and the spool in /var/lib/agent (undelivered metrics).
#
# --root DIR installs into DIR instead of / (for tests and images; systemctl is not called,
# and the link points into DIR). --wheels DIR installs offline: pip --no-index --find-links DIR
# (the directory needs a pip wheel too, for the upgrade).

# A bash script: under sh (dash: "Illegal option -o pipefail"), start again under bash.
if [ -z "${BASH_VERSION:-}" ]; then
    exec bash "$0" "$@"
fi
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=${AGENT_INSTALL_ROOT:-/}
PREFIX=/opt/agent
EXTRAS=influx
PYTHON=${PYTHON:-python3}
WHEELS=
INDEX=()
ACTION=install
PURGE=

usage() {
    cat <<EOF
usage: $0 [--extras LIST] [--prefix DIR] [--root DIR] [--wheels DIR] [--python PY]
       $0 --uninstall [--purge] [--prefix DIR] [--root DIR]

  --extras LIST  comma-separated extras: postgres, serial, influx, all (default: influx;
                 "" or none: core only, i.e. inputs.mem to stdout/file)
  --prefix DIR   where the virtual environment goes (default: /opt/agent)
  --root DIR     install below DIR instead of / (no systemctl calls); env AGENT_INSTALL_ROOT
  --wheels DIR   offline: pip install --no-index --find-links DIR (with a pip wheel)
  --python PY    the interpreter for the venv (default: python3; env PYTHON)
  --uninstall    remove the venv, the link and the units (keeps /etc/agent, /etc/telegraf)
  --purge        with --uninstall: also remove the configs, env files, credentials and spool
EOF
}

log() { printf '%s\n' "install.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

need_value() { [ "$#" -ge 2 ] || die "$1 needs a value (see --help)"; }

parse_args() {
    while [ "$#" -gt 0 ]; do
        case $1 in
            --extras) need_value "$@"; EXTRAS=$2; shift ;;
            --extras=*) EXTRAS=${1#*=} ;;
            --prefix) need_value "$@"; PREFIX=$2; shift ;;
            --prefix=*) PREFIX=${1#*=} ;;
            --root) need_value "$@"; ROOT=$2; shift ;;
            --root=*) ROOT=${1#*=} ;;
            --wheels) need_value "$@"; WHEELS=$2; shift ;;
            --wheels=*) WHEELS=${1#*=} ;;
            --python) need_value "$@"; PYTHON=$2; shift ;;
            --python=*) PYTHON=${1#*=} ;;
            --uninstall) ACTION=uninstall ;;
            --purge) PURGE=1 ;;
            -h|--help) usage; exit 0 ;;
            *) usage >&2; die "unknown argument: $1" ;;
        esac
        shift
    done
    case $PREFIX in /*) ;; *) die "--prefix must be an absolute path: $PREFIX" ;; esac
    case $ROOT in /*) ;; *) die "--root must be an absolute path: $ROOT" ;; esac
    [ -z "$PURGE" ] || [ "$ACTION" = uninstall ] || die "--purge goes with --uninstall"
    ROOT=${ROOT%/}
    [ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || die "run as root: sudo $0"
    [ -z "$WHEELS" ] || INDEX=(--no-index --find-links "$WHEELS")
    if [ ! -f "$SRC/pyproject.toml" ] || [ ! -d "$SRC/agent" ]; then
        die "$SRC is not an agent checkout"
    fi
}

# The paths, all below $ROOT.
set_paths() {
    VENV=$ROOT$PREFIX
    LINK=$ROOT/usr/local/bin/agent
    UNITS=$ROOT/etc/systemd/system
    ETC_AGENT=$ROOT/etc/agent
    ETC_TELEGRAF=$ROOT/etc/telegraf
}

# systemctl only for the real root, and only when systemd runs (not in a chroot or container
# build, where `systemctl daemon-reload` would fail).
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

# --- install ---------------------------------------------------------------------------------

check_extras() {
    local known extra
    # The extras pyproject.toml declares: the names before " = [" in
    # [project.optional-dependencies].
    known=$(sed -n '/^\[project.optional-dependencies\]/,/^\[/s/^\([a-z0-9_-]*\) *= *\[.*/\1/p' \
        "$SRC/pyproject.toml")
    [ "$EXTRAS" != none ] || EXTRAS=
    EXTRAS=${EXTRAS// /}
    for extra in ${EXTRAS//,/ }; do
        printf '%s\n' "$known" | grep -qx -- "$extra" \
            || die "unknown extra '$extra' (known: $(printf '%s' "$known" | tr '\n' ' '))"
    done
}

python_has_venv() { "$1" -c 'import venv, ensurepip' 2>/dev/null; }

ensure_python() {
    command -v "$PYTHON" >/dev/null || [ -x "$PYTHON" ] || {
        [ -z "$ROOT" ] || die "$PYTHON not found"
        apt_install python3 python3-venv
    }
    python_has_venv "$PYTHON" && return 0
    # Debian's python3 has no ensurepip (hence no venv) without python3-venv.
    [ -z "$ROOT" ] || die "$PYTHON cannot create a venv (apt-get install python3-venv)"
    apt_install python3-venv
    python_has_venv "$PYTHON" || die "$PYTHON still cannot create a venv"
}

apt_install() {
    command -v apt-get >/dev/null || die "need $*, and there is no apt-get"
    log "apt-get install $*"
    # Offline, the lists there are and /var/cache/apt/archives may still have the packages.
    DEBIAN_FRONTEND=noninteractive apt-get -qq update >&2 \
        || log "warning: apt-get update failed; trying the package lists there are"
    DEBIAN_FRONTEND=noninteractive apt-get -qq install -y --no-install-recommends "$@" >&2
}

# agent@.service reloads with ExecReload=/bin/kill -HUP (procps: on every normal Debian and
# Raspberry Pi OS, but not in minimal images).
ensure_kill() {
    if [ -x "$ROOT/bin/kill" ]; then return 0; fi
    if [ -z "$ROOT" ]; then
        apt_install procps
    else
        log "warning: no $ROOT/bin/kill (package procps): systemctl reload agent@X would fail"
    fi
}

make_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        log "reusing the virtual environment $VENV"
        return 0
    fi
    log "creating the virtual environment $VENV"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
}

venv_pip() { "$VENV/bin/python" -m pip --quiet --disable-pip-version-check --no-input "$@"; }

# The venv's pip is Debian's (20.3 on bullseye), whose resolver backtracks for more than ten
# minutes through psycopg and psutil releases on armhf: a current pip first.
upgrade_pip() {
    log "pip install --upgrade pip"
    venv_pip install --upgrade "${INDEX[@]}" pip >&2
    log "pip $("$VENV/bin/python" -c 'import pip; print(pip.__version__)')"
}

wants_postgres() {
    case ",$EXTRAS," in *,postgres,*|*,all,*) return 0 ;; esac
    return 1
}

# Is there a psycopg-binary wheel for this venv (its Python, libc and architecture), in the
# version the postgres extra asks for? pip downloads it into DIR (the install then takes it
# from there).
psycopg_binary_wheel() {
    local version
    version=$(sed -n 's/.*"psycopg\[binary\]\([^";]*\).*/\1/p' "$SRC/pyproject.toml" | head -n 1)
    venv_pip download --no-deps --only-binary=:all: --dest "$1" "${INDEX[@]}" \
        "psycopg-binary$version" >/dev/null 2>&1
}

# No wheel (armv7l): the same extra as pure-Python psycopg, which loads the system's libpq.
use_system_libpq() {
    log "no psycopg-binary wheel for $(uname -m): pure-Python psycopg over libpq5"
    sed -i 's/"psycopg\[binary\]/"psycopg/' "$1/pyproject.toml"
    if [ -n "$ROOT" ]; then
        log "warning: make sure $ROOT has libpq5 (apt-get install libpq5)"
    elif ! ldconfig -p | grep 'libpq\.so\.5 ' >/dev/null; then  # not -q: no SIGPIPE
        apt_install libpq5
    fi
}

pip_install() {
    local spec=$SRC
    [ -z "$EXTRAS" ] || spec="${SRC}[$EXTRAS]"
    local args=(install --upgrade "${INDEX[@]}")
    log "pip install '$spec'"
    # Build in a temporary copy: the checkout may be read-only or owned by another user, and
    # setuptools writes its egg-info next to the sources.
    local build
    build=$(mktemp -d)
    # shellcheck disable=SC2064  # expand now: $build is local
    trap "rm -rf '$build'" EXIT
    cp -R "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/agent" "$build/"
    spec=${spec/#"$SRC"/"$build"}
    if wants_postgres; then
        if psycopg_binary_wheel "$build/wheel"; then
            args+=(--find-links "$build/wheel")
        else
            use_system_libpq "$build"
        fi
    fi
    # --upgrade reinstalls a local directory even with the same version number (newer code
    # after a git pull), and touches dependencies only when they no longer fit.
    venv_pip "${args[@]}" "$spec" >&2
    rm -rf "$build"
    trap - EXIT
    "$VENV/bin/agent" --version >/dev/null || die "$VENV/bin/agent does not run"
    if wants_postgres; then
        "$VENV/bin/python" -c 'import psycopg' || die "psycopg does not load"
    fi
}

link_command() {
    mkdir -p "$(dirname "$LINK")"
    if [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
        die "$LINK exists and is not a link; move it away first"
    fi
    ln -sfn "$VENV/bin/agent" "$LINK"
}

install_units() {
    mkdir -p "$UNITS"
    local unit
    for unit in agent@.service telegraf@.service; do
        # Ours to replace: local changes belong in drop-ins (systemctl edit agent@X).
        install -m 0644 "$SRC/systemd/$unit" "$UNITS/$unit"
    done
}

# install_new MODE SRC DEST: copy unless DEST exists (never overwrite the admin's edits).
install_new() {
    local owner=()
    [ "$(id -u)" != 0 ] || owner=(-o root -g root)
    if [ -e "$3" ]; then
        log "keeping $3"
    else
        install "${owner[@]}" -m "$1" "$2" "$3"
        log "created $3"
    fi
}

# install_examples MODE DESTDIR FILE...: install_new each FILE that exists (globs may not match).
install_examples() {
    local mode=$1 dest=$2 f
    shift 2
    for f in "$@"; do
        if [ -e "$f" ]; then install_new "$mode" "$f" "$dest/${f##*/}"; fi
    done
}

install_configs() {
    local f
    install -d -m 0755 "$ETC_AGENT"
    install -d -m 0700 "$ETC_AGENT/credentials"
    # Configs are read by the service's DynamicUser: 0644. Env files are read by systemd
    # (root) and hold tokens: 0600.
    install_examples 0644 "$ETC_AGENT" "$SRC"/systemd/examples/agent/*.toml
    install_examples 0600 "$ETC_AGENT" "$SRC"/systemd/examples/agent/agent-*.env
    install -d -m 0755 "$ETC_TELEGRAF"
    install -d -m 0700 "$ETC_TELEGRAF/credentials"
    install_examples 0644 "$ETC_TELEGRAF" "$SRC"/telegraf/*.conf
    install_examples 0600 "$ETC_TELEGRAF" "$SRC"/systemd/examples/telegraf/telegraf-*.env
    # Env files copied by hand or by an earlier version get the safe mode too.
    for f in "$ETC_AGENT"/agent-*.env "$ETC_TELEGRAF"/telegraf-*.env; do
        if [ -f "$f" ]; then chmod 0600 "$f"; fi
    done
}

next_steps() {
    local examples="" f
    for f in "$ETC_AGENT"/*.toml; do
        if [ -e "$f" ]; then f=${f##*/}; examples+="${f%.toml} "; fi
    done
    cat <<EOF

$("$VENV/bin/agent" --version 2>/dev/null | tail -n 1) is installed in $VENV (extras: ${EXTRAS:-none}).
Instances with an example config in $ETC_AGENT: ${examples:-none yet}

Next, for an instance such as "ram":
  1. edit $ETC_AGENT/ram.toml (what to collect, where to write)
  2. edit $ETC_AGENT/agent-ram.env (INFLUX_URL, INFLUX_TOKEN, INFLUX_ORG, INFLUX_BUCKET)
  3. agent check --config $ETC_AGENT/ram.toml
  4. systemctl enable --now agent@ram
  5. systemctl status agent@ram; journalctl -u agent@ram -f
Reload after editing the config: systemctl reload agent@ram (env file: restart).
Serial sensors: agent@.service already has SupplementaryGroups=dialout; to try by hand,
  usermod -aG dialout \$USER.
Under Telegraf instead: edit $ETC_TELEGRAF/<x>.conf and telegraf-<x>.env, then
  systemctl enable --now telegraf@<x> (needs the telegraf package and its telegraf user).
A token as a systemd credential instead of the env file: see systemd/README.md, "Secrets".
EOF
}

install_all() {
    check_extras
    ensure_python
    ensure_kill
    make_venv
    upgrade_pip
    pip_install
    link_command
    install_units
    install_configs
    if systemd_running; then
        systemctl daemon-reload
    fi
    next_steps
}

# --- uninstall -------------------------------------------------------------------------------

# Instances of TEMPLATE enabled (links in *.wants/) or loaded.
instances() {
    local template=$1 link
    for link in "$UNITS"/*.wants/"$template"@*.service; do
        if [ -L "$link" ]; then printf '%s\n' "${link##*/}"; fi
    done
    if systemd_running; then
        systemctl list-units --all --plain --no-legend "$template@*.service" | cut -d' ' -f1
    fi
}

stop_instances() {
    local template unit
    for template in agent telegraf; do
        for unit in $(instances "$template" | sort -u); do
            log "disabling $unit"
            if systemd_running; then
                systemctl disable --now "$unit" >&2 || true
            else
                rm -f "$UNITS"/*.wants/"$unit"
            fi
        done
    done
}

uninstall_all() {
    stop_instances
    rm -f "$UNITS/agent@.service" "$UNITS/telegraf@.service"
    if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$VENV/bin/agent" ]; then
        rm -f "$LINK"
    fi
    # Only a directory that is a virtual environment.
    if [ -f "$VENV/pyvenv.cfg" ]; then
        rm -rf "$VENV"
        log "removed $VENV"
    fi
    if [ -n "$PURGE" ]; then purge; fi
    if systemd_running; then
        systemctl daemon-reload
        systemctl reset-failed 'agent@*' 'telegraf@*' 2>/dev/null || true
    fi
    log "uninstalled${PURGE:+ and purged}"
}

purge() {
    local f
    rm -rf "$ETC_AGENT" "$ROOT/var/lib/agent" "$ROOT/var/lib/private/agent"
    # /etc/telegraf belongs to the telegraf package: remove only what install copied there.
    for f in "$SRC"/telegraf/*.conf "$SRC"/systemd/examples/telegraf/telegraf-*.env; do
        if [ -e "$f" ]; then rm -f "$ETC_TELEGRAF/${f##*/}"; fi
    done
    rm -rf "$ETC_TELEGRAF/credentials"
    rmdir "$ETC_TELEGRAF" 2>/dev/null || true
}

main() {
    parse_args "$@"
    set_paths
    umask 022
    case $ACTION in
        install) install_all ;;
        uninstall) uninstall_all ;;
    esac
}

main "$@"
