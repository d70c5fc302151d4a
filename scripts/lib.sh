# shellcheck shell=bash
# Shared by scripts/up and scripts/test. Source it; do not run it.
#
# Provides: log/warn/die, REPO_ROOT, ensure_tools (Rust target and components, PostgreSQL,
# bubblewrap, Node.js), ensure_python_tools (the manifest tests' kubernetes-validate, in
# .local/venv), ensure_bench_python (terminado for the terminal benchmark, in
# .local/bench-venv), build_all (the web playground, Spin components + native binaries),
# target_dir, ensure_chromium (for the browser test, web/e2e), find_spin / use_shared_spin (the
# real Spin CLI, optional), and a private PostgreSQL cluster under .local/pg (start_local_pg /
# stop_local_pg).
#
# Convention: stdout carries only what a function is documented to print (a path, a port), so
# `$(...)` captures exactly that; everything else (progress, installers' output) goes to stderr.
# scripts/lib-test checks this for every install path.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly WASM_TARGET=wasm32-wasip2
# The Spin components: built for wasm32-wasip2 only, excluded from native builds and tests.
# `web` embeds web/dist, so build_web runs before them.
readonly COMPONENTS=(health fixture users sessions workspace docs web)

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# apt_install <package>...: installs Debian packages (call only as root). Runs apt-get update
# once per shell. All of apt's output goes to stderr, so callers whose stdout is captured
# (ensure_chromium) print only their result.
APT_UPDATED=0
apt_install() {
    command -v apt-get >/dev/null ||
        die "apt-get not found: install $* with this system's package manager"
    log "installing $* (apt-get install)"
    if [[ "$APT_UPDATED" != 1 ]]; then
        apt-get update >&2 || die "apt-get update failed"
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed"
}

# --- tools --------------------------------------------------------------------------------

# Prints the directory holding initdb/pg_ctl/postgres/psql; fails if there is none.
# Same search as test-support: $PG_BINDIR, initdb on PATH, the highest /usr/lib/postgresql/*/bin.
pg_bin_dir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        [[ -x "$PG_BINDIR/initdb" ]] || return 1
        printf '%s\n' "$PG_BINDIR"
        return 0
    fi
    local initdb
    if initdb="$(command -v initdb)"; then
        dirname "$(readlink -f "$initdb")"
        return 0
    fi
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 3 -maxdepth 3 -path '*/bin/initdb' 2>/dev/null |
        sort -V | tail -n 1)"
    [[ -n "$dir" ]] || return 1
    dirname "$dir"
}

ensure_postgres() {
    if pg_bin_dir >/dev/null; then
        return 0
    fi
    if ! is_root; then
        die "PostgreSQL server binaries (initdb, pg_ctl) not found. Install PostgreSQL 15 or later \
(Debian: sudo apt-get install postgresql), or set PG_BINDIR to the directory holding initdb."
    fi
    apt_install postgresql
    pg_bin_dir >/dev/null || die "PostgreSQL was installed, but initdb is still not found"
}

ensure_rust() {
    if ! command -v cargo >/dev/null && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        PATH="$HOME/.cargo/bin:$PATH"
        export PATH
    fi
    command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
    if ! command -v rustup >/dev/null; then
        warn "rustup not found: assuming the $WASM_TARGET target, rustfmt and clippy are installed"
        return 0
    fi
    # Inside the repository rust-toolchain.toml selects the toolchain; the first cargo call
    # installs it if it is missing.
    # Everything rustup prints goes to stderr (as the other install steps).
    (
        cd "$REPO_ROOT" || exit 1
        cargo --version >/dev/null || die "cargo does not run (is the toolchain of rust-toolchain.toml installed?)"
        if ! rustup target list --installed | grep -qx "$WASM_TARGET"; then
            log "adding the $WASM_TARGET target"
            rustup target add "$WASM_TARGET" >&2 ||
                die "could not add the $WASM_TARGET target: run rustup target add $WASM_TARGET"
        fi
        local installed
        installed="$(rustup component list --installed)"
        local component
        for component in rustfmt clippy; do
            if ! grep -q "^$component" <<<"$installed"; then
                log "adding the $component component"
                rustup component add "$component" >&2 ||
                    die "could not add $component: run rustup component add $component"
            fi
        done
    )
}

# bubblewrap runs the local sandboxes (the bridge's default runtime) and their tests.
ensure_bwrap() {
    if command -v bwrap >/dev/null; then
        return 0
    fi
    if ! is_root; then
        die "bubblewrap (bwrap) not found: install it (Debian: sudo apt-get install bubblewrap), \
or run the bridge with BRIDGE_RUNTIME=process (no isolation; development only)"
    fi
    apt_install bubblewrap
    command -v bwrap >/dev/null || die "bubblewrap was installed, but bwrap is still not found"
}

# Node.js 20 or later with npm builds the playground (web/); nothing else is installed for it.
ensure_node() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        die "Node.js and npm not found: install Node.js 20 or later (Debian: apt-get install nodejs npm, or https://nodejs.org)"
    fi
    local major
    major="$(node -p 'process.versions.node.split(".")[0]')"
    ((major >= 20)) || die "Node.js $(node --version) is too old: the playground (web/) needs 20 or later"
}

# Chromium for the browser test (web/e2e/playground.mjs, which drives it with playwright-core).
# Prints its path. Installs the Debian package when root; otherwise says what to install.
# CHROMIUM overrides the binary.
ensure_chromium() {
    local bin="${CHROMIUM:-/usr/bin/chromium}"
    if [[ ! -x "$bin" ]]; then
        is_root || die "Chromium not found at $bin: install it (Debian: sudo apt-get install chromium) or set CHROMIUM"
        apt_install chromium
        [[ -x "$bin" ]] || die "Chromium was installed, but $bin is still missing"
    fi
    printf '%s\n' "$bin"
}

# --- the real Spin CLI (optional) -----------------------------------------------------------

# The oldest Spin that serves spin-sdk 7 components (as test-support/src/spin_find.rs).
readonly SPIN_MIN_MAJOR=4 SPIN_MIN_MINOR=1

# spin_version_ok <binary>: whether `<binary> --version` says Spin 4.1 or later; sets SPIN_WHY
# when not.
spin_version_ok() {
    local bin="$1" text
    if ! text="$("$bin" --version 2>/dev/null)"; then
        SPIN_WHY="$bin --version failed"
        return 1
    fi
    if [[ ! "$text" =~ ^spin\ ([0-9]+)\.([0-9]+) ]]; then
        SPIN_WHY="$bin --version printed '${text%%$'\n'*}', not a Spin version"
        return 1
    fi
    local major="${BASH_REMATCH[1]}" minor="${BASH_REMATCH[2]}"
    if ((major < SPIN_MIN_MAJOR || (major == SPIN_MIN_MAJOR && minor < SPIN_MIN_MINOR))); then
        SPIN_WHY="$bin is Spin $major.$minor; $SPIN_MIN_MAJOR.$SPIN_MIN_MINOR or later is needed"
        return 1
    fi
}

# find_spin: the real Spin CLI, found as the tests find it (test-support/src/spin_find.rs):
# $SPIN_BIN, else `spin` on PATH, if it is Spin 4.1 or later. Sets SPIN_FOUND to its path, or
# SPIN_WHY to a one-line reason and returns 1. Prints nothing: call it directly, not in $(...).
SPIN_FOUND=
SPIN_WHY=
find_spin() {
    SPIN_FOUND=
    SPIN_WHY=
    local candidate
    if [[ -n "${SPIN_BIN:-}" ]]; then
        candidate="$SPIN_BIN"
    elif ! candidate="$(command -v spin)"; then
        SPIN_WHY="the real Spin CLI was not found (SPIN_BIN unset, no spin on PATH)"
        return 1
    fi
    spin_version_ok "$candidate" || return 1
    SPIN_FOUND="$candidate"
}

# Where use_shared_spin looks for a copy of Spin (shared/ beside the repository, as CI lays it
# out), and where it unpacks it: outside the repository, kept between runs.
SPIN_SHARED_TOOLS="${SPIN_SHARED_TOOLS:-$REPO_ROOT/../shared/tools}"
SPIN_UNPACK_DIR="${SPIN_UNPACK_DIR:-/var/tmp/code-exec-platform-spin}"

# shared_spin_sha256 <archive>: the sha256 of the unpacked binary as given by the README.md
# beside <archive> (a line naming sha256 with 64 hex digits, in the section whose heading names
# the archive); prints nothing when the README gives none.
shared_spin_sha256() {
    local readme
    readme="$(dirname "$1")/README.md"
    [[ -f "$readme" ]] || return 0
    awk -v name="$(basename "$1")" '
        /^```/ { fenced = !fenced }
        !fenced && /^#/ { inside = index($0, name) > 0; next }
        inside && tolower($0) ~ /sha256/ { print }
    ' "$readme" | grep -oiE '\b[0-9a-f]{64}\b' | head -n 1 | tr 'A-F' 'a-f'
}

# decompress_xz <file.xz> <output>: with xz, else Python's lzma, else xz-utils installed (root).
decompress_xz() {
    if ! command -v xz >/dev/null && ! python3 -c 'import lzma' 2>/dev/null && is_root; then
        apt_install xz-utils
    fi
    if command -v xz >/dev/null; then
        xz -dc "$1" >"$2"
    elif python3 -c 'import lzma' 2>/dev/null; then
        python3 -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$1" "$2"
    else
        warn "neither xz nor python3 with lzma found: cannot unpack $1"
        return 1
    fi
}

# use_shared_spin: find_spin, else the newest $SPIN_SHARED_TOOLS/spin-*-linux-<arch>.xz (a copy
# of the Spin CLI kept for testing, see its README), unpacked into
# $SPIN_UNPACK_DIR/<name>/bin/spin (never into the repository) and checked against the sha256
# its README gives. Exports SPIN_BIN and sets SPIN_FOUND, or sets SPIN_WHY and returns 1.
# Prints nothing on stdout.
use_shared_spin() {
    if find_spin; then
        export SPIN_BIN="$SPIN_FOUND"
        return 0
    fi
    local not_found="$SPIN_WHY" tools archive
    tools="$SPIN_SHARED_TOOLS"
    if [[ -d "$tools" ]]; then
        tools="$(cd "$tools" && pwd)"
    fi
    archive="$(printf '%s\n' "$tools"/spin-*-linux-"$(uname -m)".xz | sort -V | tail -n 1)"
    if [[ ! -f "$archive" ]]; then
        SPIN_WHY="$not_found, nor $tools/spin-*-linux-$(uname -m).xz to unpack"
        return 1
    fi
    local name dir bin expected actual tmp
    name="$(basename "$archive" .xz)"
    dir="$SPIN_UNPACK_DIR/$name/bin"
    bin="$dir/spin"
    expected="$(shared_spin_sha256 "$archive")"
    [[ -n "$expected" ]] || warn "$(dirname "$archive")/README.md gives no sha256 for $name: not checked"
    # Reuse an earlier unpack while it still matches: the README's sha256, else the archive's age.
    local reuse=0
    if [[ -x "$bin" && -n "$expected" ]]; then
        [[ "$(sha256sum <"$bin" | cut -d ' ' -f 1)" == "$expected" ]] && reuse=1
    elif [[ -x "$bin" && "$bin" -nt "$archive" ]]; then
        reuse=1
    fi
    if ((reuse)); then
        log "using the Spin CLI unpacked earlier from $archive: $bin"
    else
        log "unpacking $archive into $dir"
        mkdir -p "$dir"
        tmp="$(mktemp "$dir/.spin.XXXXXX")"
        if ! decompress_xz "$archive" "$tmp"; then
            rm -f "$tmp"
            SPIN_WHY="$not_found, and $archive could not be unpacked"
            return 1
        fi
        actual="$(sha256sum <"$tmp" | cut -d ' ' -f 1)"
        if [[ -n "$expected" && "$actual" != "$expected" ]]; then
            rm -f "$tmp"
            SPIN_WHY="$not_found, and $archive unpacks to sha256 $actual, not the README's $expected (not used)"
            return 1
        fi
        chmod 755 "$tmp"
        mv -f "$tmp" "$bin"
    fi
    spin_version_ok "$bin" || return 1
    SPIN_FOUND="$bin"
    export SPIN_BIN="$bin"
}

ensure_tools() {
    ensure_rust
    ensure_postgres
    ensure_bwrap
    ensure_node
}

# The Python tools of the manifest tests (k8s/tests): the pinned kubernetes-validate and what
# the tests call besides, from k8s/requirements.txt, in a virtual environment of their own.
readonly PY_VENV="$REPO_ROOT/.local/venv"
# terminado, the baseline of the terminal benchmark (terminal-bridge/bench/requirements.txt).
readonly BENCH_VENV="$REPO_ROOT/.local/bench-venv"

# ensure_venv <venv> <requirements file> <module to import> <what it is for>
# Creates or updates <venv> from <requirements file> when it is missing or the pins changed (a
# copy of the installed requirements is kept in the venv). Needs python3 with its venv module
# (Debian: python3-venv; installed when root) and PyPI.
ensure_venv() {
    local venv="$1" requirements="$2" module="$3" purpose="$4"
    local installed="$venv/requirements.txt"
    if cmp -s "$requirements" "$installed" &&
        "$venv/bin/python3" -c "import $module" 2>/dev/null; then
        return 0
    fi
    if ! command -v python3 >/dev/null || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        if ! is_root; then
            die "python3 with its venv module is needed for $purpose \
(Debian: sudo apt-get install python3 python3-venv)"
        fi
        apt_install python3 python3-venv
    fi
    log "installing the Python tools of $purpose (${requirements#"$REPO_ROOT"/}) into $venv"
    rm -f "$installed"
    python3 -m venv --clear "$venv" >&2 || die "could not create the virtual environment $venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check \
        --no-input -r "$requirements" >&2 ||
        die "could not install ${requirements#"$REPO_ROOT"/} into $venv (is PyPI reachable?)"
    cp "$requirements" "$installed"
}

# The manifest tests' venv; exports K8S_VALIDATE_PYTHON, where the tests look first.
ensure_python_tools() {
    ensure_venv "$PY_VENV" "$REPO_ROOT/k8s/requirements.txt" kubernetes_validate \
        "the manifest tests"
    K8S_VALIDATE_PYTHON="$PY_VENV/bin/python3"
    export K8S_VALIDATE_PYTHON
}

# terminado for the terminal benchmark; exports TERMINADO_PYTHON, which the benchmark runs it with.
ensure_bench_python() {
    ensure_venv "$BENCH_VENV" "$REPO_ROOT/terminal-bridge/bench/requirements.txt" terminado \
        "the terminal benchmark"
    TERMINADO_PYTHON="$BENCH_VENV/bin/python3"
    export TERMINADO_PYTHON
}

# --- building -----------------------------------------------------------------------------

# Cargo's target directory, whatever CARGO_TARGET_DIR or cargo config says.
target_dir() {
    (cd "$REPO_ROOT" && cargo metadata --format-version 1 --no-deps) |
        grep -o '"target_directory":"[^"]*"' | head -n 1 | cut -d '"' -f 4
}

# The playground: web/dist from the committed package-lock.json (npm ci only when
# node_modules does not match it), which the `web` component embeds.
build_web() {
    log "building the web playground (web/dist)"
    (
        cd "$REPO_ROOT/web" || exit 1
        if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
            npm ci --no-audit --no-fund >&2
        fi
        npm run build >&2
    )
}

build_components() {
    build_web
    local args=()
    local component
    for component in "${COMPONENTS[@]}"; do
        args+=(-p "$component")
    done
    log "building the Spin components (${COMPONENTS[*]}) for $WASM_TARGET"
    (cd "$REPO_ROOT" && cargo build --target "$WASM_TARGET" --release "${args[@]}" >&2)
    expose_components
}

# spin.toml names the components by their path under ./target. When CARGO_TARGET_DIR puts the
# build elsewhere, link the built files there so api-host, its tests and `spin up` find them.
expose_components() {
    local built expected
    built="$(target_dir)/$WASM_TARGET/release"
    expected="$REPO_ROOT/target/$WASM_TARGET/release"
    if [[ "$(readlink -f "$built")" == "$(readlink -m "$expected")" ]]; then
        return 0
    fi
    mkdir -p "$expected"
    local component
    for component in "${COMPONENTS[@]}"; do
        ln -sfn "$built/$component.wasm" "$expected/$component.wasm"
    done
}

build_native() {
    log "building the native binaries"
    (cd "$REPO_ROOT" && cargo build --bins >&2)
}

build_all() {
    build_components
    build_native
}

# --- the private PostgreSQL cluster ----------------------------------------------------------

# The OS user that runs the PostgreSQL tools when we are root (initdb refuses root).
pg_os_user() {
    if id -u postgres >/dev/null 2>&1; then
        echo postgres
    else
        echo nobody
    fi
}

# Runs a command as that user when root, else as ourselves.
as_pg_user() {
    if ! is_root; then
        "$@"
    elif command -v runuser >/dev/null; then
        runuser -u "$(pg_os_user)" -- "$@"
    else
        setpriv --reuid="$(pg_os_user)" --regid="$(id -g "$(pg_os_user)")" --init-groups -- "$@"
    fi
}

# Where the private cluster lives: $LOCAL_PG_DIR when set, else .local/pg in the repository (git-ignored); when we are root
# and the postgres user cannot reach the repository (e.g. a clone under /root), a directory
# under /var/tmp named after the repository path.
# LOCAL_PG_DIR overrides the place (scripts/test gives its stack a cluster of its own there).
local_pg_dir() {
    local dir="${LOCAL_PG_DIR:-$REPO_ROOT/.local/pg}"
    mkdir -p "$dir"
    if is_root; then
        chown "$(pg_os_user):" "$dir"
        if ! (cd / && as_pg_user test -w "$dir" -a -x "$dir"); then
            local key
            key="$(printf '%s' "$REPO_ROOT" | sha256sum | cut -c 1-12)"
            dir="/var/tmp/code-exec-platform-pg-$key"
            mkdir -p "$dir"
            chown "$(pg_os_user):" "$dir"
            warn "user $(pg_os_user) cannot reach $REPO_ROOT/.local/pg; using $dir instead"
        fi
    fi
    printf '%s\n' "$dir"
}

# Sets DATABASE_URL. Uses DATABASE_URL when already set; otherwise initialises (once) and starts
# (or reuses, when already running) the private cluster on 127.0.0.1:${PGPORT_LOCAL:-5433}.
# LOCAL_PG_STARTED=1 tells stop_local_pg that this run started the server.
LOCAL_PG_STARTED=0
LOCAL_PG_DATA=
start_local_pg() {
    if [[ -n "${DATABASE_URL:-}" ]]; then
        log "using the database in DATABASE_URL"
        return 0
    fi
    local bin dir data sock logfile port
    bin="$(pg_bin_dir)" || die "PostgreSQL server binaries not found (run ensure_tools first)"
    dir="$(local_pg_dir)"
    data="$dir/data"
    sock="$dir/sock"
    logfile="$dir/postgres.log"
    port="${PGPORT_LOCAL:-5433}"
    LOCAL_PG_DATA="$data"

    mkdir -p "$sock"
    if is_root; then
        chown "$(pg_os_user):" "$sock"
    fi
    if [[ ! -f "$data/PG_VERSION" ]]; then
        log "initialising a PostgreSQL cluster in $data"
        (cd "$dir" && as_pg_user "$bin/initdb" -D "$data" -U postgres --auth=trust \
            --encoding=UTF8 --locale=C >/dev/null)
    fi

    if (cd "$dir" && as_pg_user "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1); then
        # Line 4 of postmaster.pid is the port the running server listens on.
        port="$(sed -n 4p "$data/postmaster.pid")"
        log "reusing the PostgreSQL already running from $data on port $port"
    else
        log "starting PostgreSQL on 127.0.0.1:$port (log: $logfile)"
        if ! (cd "$dir" && as_pg_user "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 60 \
            -o "-p $port -c listen_addresses=127.0.0.1 -k '$sock'" start >/dev/null); then
            tail -n 20 "$logfile" >&2 || true
            die "PostgreSQL did not start (is port $port taken? set PGPORT_LOCAL to another port)"
        fi
        LOCAL_PG_STARTED=1
    fi
    DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
    export DATABASE_URL
}

# Stops the private cluster if start_local_pg started it.
stop_local_pg() {
    if [[ "$LOCAL_PG_STARTED" != 1 ]]; then
        return 0
    fi
    local bin
    bin="$(pg_bin_dir)" || return 0
    log "stopping PostgreSQL"
    (cd / && as_pg_user "$bin/pg_ctl" -D "$LOCAL_PG_DATA" -m fast -w -t 60 stop >/dev/null) ||
        warn "could not stop PostgreSQL in $LOCAL_PG_DATA"
    LOCAL_PG_STARTED=0
}

# Prints a TCP port on 127.0.0.1 that nothing listens on (a random one from 20000 to 31999).
free_port() {
    local port tries
    for tries in $(seq 1 100); do
        # Below Linux's ephemeral range (32768 and up by default): a port there may be the
        # local end of some outgoing connection, which the connect probe below cannot see and
        # which makes the server's bind fail.
        port=$((20000 + RANDOM % 12000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
    done
    die "no free port found after $tries tries"
}

# --- local sandboxes ------------------------------------------------------------------------

# The start time of process <pid> (field 22 of /proc/<pid>/stat), empty when it is gone.
proc_start_time() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
    # Fields after the command name (which may hold spaces) start at field 3.
    stat="${stat##*) }"
    # shellcheck disable=SC2086 # split on purpose
    set -- $stat
    printf '%s\n' "${20}"
}

# Stops every local sandbox under <sandbox dir> as the bridge's runtime does (sandboxes outlive
# the bridge by design): kills each recorded process whose start time still matches (the
# sandbox's init ends its whole pid namespace), whatever is left in its cgroups, removes the
# cgroups, then the directory.
stop_local_sandboxes() {
    local dir="$1" state field pid start cgroup
    [[ -d "$dir" ]] || return 0
    for state in "$dir"/*/state.json; do
        [[ -f "$state" ]] || continue
        for field in init bwrap; do
            pid="$(sed -n "s/.*\"${field}_pid\": *\([0-9]*\).*/\1/p" "$state")"
            start="$(sed -n "s/.*\"${field}_start\": *\([0-9]*\).*/\1/p" "$state")"
            if [[ -n "$pid" && -n "$start" && "$(proc_start_time "$pid")" == "$start" ]]; then
                kill -KILL "$pid" 2>/dev/null || true
            fi
        done
        while read -r cgroup; do
            [[ -d "$cgroup" ]] || continue
            # Killed processes leave their cgroup a moment after the signal: retry for 5 s.
            local tries
            for tries in $(seq 1 50); do
                xargs -r kill -KILL <"$cgroup/cgroup.procs" 2>/dev/null || true
                rmdir "$cgroup" 2>/dev/null && break
                sleep 0.1
            done
            [[ ! -d "$cgroup" ]] || warn "could not remove the cgroup $cgroup"
        done < <(sed -n 's/^ *"\(\/sys\/fs\/cgroup\/[^"]*\)",\{0,1\}$/\1/p' "$state")
    done
    rm -rf "$dir"
}

# --- HTTP probes --------------------------------------------------------------------------

# Prints the status code of GET <url> (http://host:port/path); fails if nothing answers.
# Plain bash (/dev/tcp), so no curl is needed.
http_status() (
    local url="$1" rest hostport path status_line
    rest="${url#http://}"
    hostport="${rest%%/*}"
    if [[ "$rest" == */* ]]; then path="/${rest#*/}"; else path=/; fi
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
    IFS= read -r -t 5 status_line <&3 || exit 1
    status_line="${status_line%$'\r'}"
    [[ "$status_line" =~ ^HTTP/[0-9.]+\ ([0-9]{3}) ]] || exit 1
    printf '%s\n' "${BASH_REMATCH[1]}"
)

# Waits until <url> answers (any status) or <seconds> pass; fails early if <pid> exits.
wait_for_http() {
    local url="$1" seconds="$2" pid="${3:-}"
    local deadline=$((SECONDS + seconds))
    until http_status "$url" >/dev/null 2>&1; do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if ((SECONDS >= deadline)); then
            return 1
        fi
        sleep 0.2
    done
}
