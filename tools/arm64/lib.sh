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

# The Debian mirror URI the machine already uses for bookworm (read from its
# apt sources, never written into the project).
arm64_mirror_uri() {
  local f uri=""
  f=/etc/apt/sources.list.d/debian.sources
  if [ -r "$f" ]; then
    # deb822 stanzas: the URIs of the stanza whose Suites list bookworm.
    uri=$(awk 'BEGIN { RS = ""; FS = "\n" }
      { u = ""; s = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { u = $i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
          if ($i ~ /^Suites:/ && (" " $i " ") ~ /[ \t]bookworm[ \t]/) s = 1
        }
        if (s && u != "") { print u; exit } }' "$f")
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == "bookworm") { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  [ -n "$uri" ] || arm64_die "no bookworm mirror URI in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
  echo "${uri%/}"
}

# A private apt configuration for the extra suites (bookworm-backports,
# trixie-backports) on the machine's own mirror: its own sources list, lists
# and caches under $strata_cache/apt-extra, so the system's lists stay as
# they are. Sets the array arm64_xapt (options for apt-get/apt-cache) and
# refreshes the lists when they are missing or older than a day.
arm64_extra_apt_ready() {
  local root=$strata_cache/apt-extra uri stamp
  uri=$(arm64_mirror_uri) || exit 1
  mkdir -p "$root/lists/partial" "$root/cache/archives/partial"
  printf '%s\n' \
    "deb [arch=amd64,arm64] $uri bookworm-backports main" \
    "deb [arch=arm64] $uri trixie-backports main" > "$root/sources.list.new"
  if ! cmp -s "$root/sources.list.new" "$root/sources.list"; then
    mv "$root/sources.list.new" "$root/sources.list"
    rm -f "$root/updated"
  else
    rm -f "$root/sources.list.new"
  fi
  arm64_xapt=(-o "Dir::Etc::sourcelist=$root/sources.list" -o "Dir::Etc::sourceparts=-"
              -o "Dir::State::Lists=$root/lists" -o "Dir::Cache=$root/cache"
              -o "APT::Get::List-Cleanup=0")
  [ "$(id -u)" -ne 0 ] || arm64_xapt+=(-o APT::Sandbox::User=root)
  stamp=$root/updated
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +1440 2>/dev/null)" ]; then
    arm64_log "refreshing the lists of bookworm-backports and trixie-backports"
    apt-get "${arm64_xapt[@]}" update -qq >&2 || arm64_die "apt-get update (extra suites) failed"
    touch "$stamp"
  fi
}

# arm64_extra_download DIR PKG=VERSION...: apt-get download with the private
# configuration, into DIR, skipping .debs already there (PKG may carry :arch).
arm64_extra_download() {
  local dir=$1; shift
  local want=() p name v f
  mkdir -p "$dir"
  for p in "$@"; do
    name=${p%%=*}; name=${name%%:*}; v=${p#*=}
    # .deb names encode the epoch's colon as %3a; the architecture may be all.
    for f in "$dir/${name}_${v/:/%3a}_"*.deb ""; do [ -s "$f" ] && break; done
    [ -n "$f" ] || want+=("$p")
  done
  ((${#want[@]})) || return 0
  arm64_log "downloading ${want[*]}"
  (cd "$dir" && apt-get download -qq "${arm64_xapt[@]}" "${want[@]}" >/dev/null) \
    || arm64_die "apt-get download failed for ${want[*]}"
}
