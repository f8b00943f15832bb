# tools/arm64/lib.sh: shared helpers for the arm64 scripts (sourced, not run).
# Everything downloaded or unpacked goes under the cache folder, outside the
# source tree, so a fresh clone (CI) reuses it.

strata_cache=${STRATA_CACHE:-$HOME/.cache/strata}

arm64_sudo=""
[ "$(id -u)" -eq 0 ] || arm64_sudo=sudo

arm64_log() { echo "${0##*/}: $*" >&2; }
arm64_die() { arm64_log "$*"; exit 1; }

# Installs the host (amd64) packages given that are missing; silent otherwise.
arm64_host_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  arm64_log "installing ${missing[*]}"
  local log
  log=$(mktemp)
  if ! { $arm64_sudo apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive $arm64_sudo apt-get install -y -qq --no-install-recommends \
           "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2; rm -f "$log"
    arm64_die "apt-get install ${missing[*]} failed"
  fi
  rm -f "$log"
}

# Makes apt know Debian's arm64 packages (bookworm's own suites, as configured
# on the machine): adds the foreign architecture and refreshes the lists once.
arm64_apt_ready() {
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    arm64_log "adding the arm64 architecture to dpkg"
    $arm64_sudo dpkg --add-architecture arm64
  fi
  if ! apt-cache show busybox-static:arm64 >/dev/null 2>&1; then
    $arm64_sudo apt-get update -qq
  fi
}

# arm64_download DIR PKG...: fetches the .debs of the arm64 packages into DIR
# (apt-get download, candidate versions), skipping those already there.
# Prints nothing when all are present.
arm64_download() {
  local dir=$1; shift
  local want=() p v f
  mkdir -p "$dir"
  for p in "$@"; do
    v=$(apt-cache policy "$p:arm64" 2>/dev/null | awk '/Candidate:/ {print $2}')
    [ -n "$v" ] && [ "$v" != "(none)" ] || arm64_die "no arm64 package $p"
    # .deb names encode the epoch's colon as %3a and drop it.
    f="${p}_${v/:/%3a}_arm64.deb"
    [ -s "$dir/$f" ] || want+=("$p:arm64=$v")
  done
  ((${#want[@]})) || return 0
  arm64_log "downloading ${want[*]}"
  # As root, apt's _apt sandbox user cannot write into a cache under /root.
  local sandbox=()
  [ "$(id -u)" -ne 0 ] || sandbox=(-o APT::Sandbox::User=root)
  (cd "$dir" && apt-get download -qq "${sandbox[@]}" "${want[@]}" >/dev/null) \
    || arm64_die "apt-get download failed for ${want[*]}"
}

# The .deb file for an arm64 package in DIR (newest if several).
arm64_deb() {
  local dir=$1 p=$2
  ls "$dir/${p}_"*_arm64.deb 2>/dev/null | sort -V | tail -n 1
}
