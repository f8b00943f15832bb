# tests/arm64/cases.sh: the test cases run inside the emulated arm64 host.
#
# Sourced by /init (tests/arm64/init, busybox ash). To add a case: write a
# function case_NAME and append NAME to the list of the hosts it runs on:
# CASES (every host), NESTED_CASES (the nested host, -cpu max-nv, booted with
# kvm-arm.mode=nested), LINUX_CASES (hosts given the Linux guest,
# tests/arm64/run --with-linux) or NESTED_LINUX_CASES (the nested host given
# itself as a guest hypervisor, --with-nested-linux; L1_CASES run inside
# that L1 only). A host runs exactly its lists' cases, so no
# case is skipped. A case gives its verdict with `pass DETAIL` or `fail
# DETAIL` (a fail sticks; no verdict counts as a fail); each case runs in its
# own shell, stdin from /dev/null, under a timeout (strata.case_timeout=S on
# the kernel command line, default 120 s). Helpers from /init: need_kvm, need
# FILE... (fails the case when a file was not packaged), run OUT CMD...
#
# In the initramfs:
#   /strata/bin/strata          the cross-built strata (build-arm64/tools/strata)
#   /strata/bin/probe           tests/arm64/probe.c: raw KVM ground truth
#   /strata/guests/             the aarch64 guests of build-arm64/tests/guests
#   /strata/linux/Image, /strata/linux/modules/, /strata/linux/guest-initrd.gz
#                               with tests/arm64/run --with-linux (the guest
#                               initramfs: busybox, tests/arm64/guest-init)
#   /usr/bin/qemu-storage-daemon, /usr/lib/qemu/virtiofsd
#                               also with --with-linux: Debian's arm64 builds,
#                               their libraries in /lib/aarch64-linux-gnu
#   /strata/linux-nv/Image, /strata/linux-nv/l1-initrd.gz
#                               with --with-nested-linux: the nested host's
#                               own kernel and L1's initramfs (this same
#                               /init, cases.sh, strata, probe and guests)
# Variables: STRATA_CPU (QEMU -cpu model), STRATA_IPA_LIMIT (the IPA limit
# TESTBED gives for that model), STRATA_* for any strata.*= word.
# Temporary files go to /tmp (a tmpfs).

CASES=""
NESTED_CASES=""
LINUX_CASES=""

# /dev/kvm is there and KVM initialised at EL2.
CASES="$CASES kvm_device"
case_kvm_device() {
  dmesg | grep -i 'kvm \[' | sed 's/^/  | /'
  need_kvm || return
  limit=$(probe limit) || { fail "probe limit failed: $limit"; return; }
  pass "/dev/kvm, IPA limit $limit"
}

# Raw KVM: the limit is the one expected for the CPU model, and VMs with IPA
# sizes 0, 32..limit create while limit+1 is refused.
CASES="$CASES probe_ipa"
case_probe_ipa() {
  need_kvm || return
  limit=$(probe limit)
  if [ -n "${STRATA_IPA_LIMIT:-}" ] && [ "$limit" != "$STRATA_IPA_LIMIT" ]; then
    fail "host IPA limit $limit, expected $STRATA_IPA_LIMIT for -cpu $STRATA_CPU"
  fi
  if run /tmp/probe.out probe ipa "$limit"; then
    pass "IPA 0, 32..$limit create, $((limit + 1)) refused"
  else
    fail "$(grep 'probe: ipa FAIL' /tmp/probe.out)"
  fi
}

# strata --version
CASES="$CASES strata_version"
case_strata_version() {
  need /strata/bin/strata || return
  if run /tmp/version.out strata --version && grep -q '^strata [0-9]' /tmp/version.out; then
    pass "$(head -n 1 /tmp/version.out)"
  else
    fail "strata --version: $(head -n 1 /tmp/version.out)"
  fi
}

# strata plan on the real KVM reads the host's limit (no "assumed" fallback).
CASES="$CASES strata_plan_host_limit"
case_strata_plan_host_limit() {
  need /strata/bin/strata || return
  need_kvm || return
  expect=${STRATA_IPA_LIMIT:-$(probe limit)}
  run /tmp/plan.out strata plan --arch aarch64 --ipa-bits max || { fail "strata plan failed"; return; }
  grep -q "host: IPA limit $expect bits" /tmp/plan.out || fail "plan does not show host IPA limit $expect"
  grep -q "KVM_CREATE_VM type IPA bits: $expect\$" /tmp/plan.out || fail "--ipa-bits max is not $expect bits"
  grep -q assumed /tmp/plan.out && fail "plan assumed the host limits instead of asking KVM"
  run /tmp/plan.json strata plan --arch aarch64 --json || { fail "strata plan --json failed"; return; }
  grep -q "\"ipa_limit\": ${expect}[,}]" /tmp/plan.json || fail "plan --json does not show ipa_limit $expect"
  pass "host IPA limit $expect"
}

# A guest under the cross-built strata on the real (emulated) arm64 KVM: the
# pattern for guest cases. The expected output is the x86_64 kvm test's.
CASES="$CASES guest_hello"
case_guest_hello() {
  need /strata/bin/strata /strata/guests/hello.img || return
  need_kvm || return
  run /tmp/hello.out strata run --kernel /strata/guests/hello.img --cmdline "hello world" --mem 64M \
    || { fail "strata run exit status $rc"; return; }
  printf 'hello from strata\nbootargs: hello world\nmemory: 67108864 bytes\ncpus: 1\n' > /tmp/hello.want
  if cmp -s /tmp/hello.out /tmp/hello.want; then
    pass "hello.img output as expected"
  else
    fail "unexpected output: $(head -n 1 /tmp/hello.out)"
  fi
}

# ---- aarch64 guests under strata (issue 5) ----

# exit-code: PSCI SYSTEM_RESET2 (vendor type) carries the status, as x86's debug-exit.
CASES="$CASES guest_exit_code"
case_guest_exit_code() {
  need /strata/bin/strata /strata/guests/exit-code.img || return
  need_kvm || return
  strata run --kernel /strata/guests/exit-code.img --cmdline code=5 > /tmp/ec.out 2>&1; rc=$?
  [ "$rc" = 11 ] || { fail "code=5 gave exit status $rc, want 11"; return; }
  strata run --kernel /strata/guests/exit-code.img --cmdline code=0 > /tmp/ec.out 2>&1; rc=$?
  [ "$rc" = 0 ] || { fail "code=0 gave exit status $rc, want 0"; return; }
  pass "code=5 -> 11, code=0 -> 0"
}

# auto picks the smallest window for each RAM size: strata logs the VM type it passed.
CASES="$CASES ipa_auto_minimal"
case_ipa_auto_minimal() {
  need /strata/bin/strata /strata/guests/hello.img || return
  need_kvm || return
  limit=${STRATA_IPA_LIMIT:-$(probe limit)}
  # RAM at 1 GiB: 64M -> 32 bits, 3G -> 32 (ends at 4 GiB), 4G -> 33, 8G -> 34 (the host has 12G)
  for pair in 64M:32 3G:32 4G:33 8G:34; do
    mem=${pair%:*}; want=${pair#*:}
    [ "$want" -le "$limit" ] || continue
    strata run --kernel /strata/guests/hello.img --mem "$mem" --log-level info --console none > /tmp/auto.out 2>&1 \
      || { fail "--mem $mem: exit status $?: $(tail -n 2 /tmp/auto.out | tr '\n' ' ')"; return; }
    grep -q "VM type $want (IPA window $want bits" /tmp/auto.out \
      || { fail "--mem $mem: want VM type $want, log: $(grep 'VM type' /tmp/auto.out)"; return; }
  done
  pass "64M/3G/4G/8G -> 32/32/33/34 (up to the limit $limit)"
}

# Every explicit N from 32 to the limit boots; limit+1 and 31 are refused
# with the sentence, before any VM exists (exit 2).
CASES="$CASES ipa_explicit_range"
case_ipa_explicit_range() {
  need /strata/bin/strata /strata/guests/hello.img || return
  need_kvm || return
  limit=${STRATA_IPA_LIMIT:-$(probe limit)}
  n=32
  while [ "$n" -le "$limit" ]; do
    strata run --kernel /strata/guests/hello.img --ipa-bits "$n" --log-level info --console none > /tmp/n.out 2>&1 \
      || { fail "--ipa-bits $n: exit status $?: $(tail -n 2 /tmp/n.out | tr '\n' ' ')"; return; }
    grep -q "VM type $n " /tmp/n.out || { fail "--ipa-bits $n: $(grep 'VM type' /tmp/n.out)"; return; }
    n=$((n + 1))
  done
  strata run --kernel /strata/guests/hello.img --ipa-bits $((limit + 1)) > /tmp/over.out 2>&1; rc=$?
  [ "$rc" = 2 ] && grep -q "above this host's IPA limit of $limit bits" /tmp/over.out \
    || { fail "--ipa-bits $((limit + 1)): status $rc: $(cat /tmp/over.out)"; return; }
  strata run --kernel /strata/guests/hello.img --ipa-bits 31 > /tmp/under.out 2>&1; rc=$?
  [ "$rc" = 2 ] && grep -q "below the smallest window of 32 bits" /tmp/under.out \
    || { fail "--ipa-bits 31: status $rc: $(cat /tmp/under.out)"; return; }
  pass "32..$limit boot; $((limit + 1)) and 31 refused"
}

# pa-probe with RAM at the very top of the window (RAM ends at 2^N): its last
# page works, and the PARange it reads is the CPU's whatever N is.
CASES="$CASES pa_probe_top_of_window"
case_pa_probe_top_of_window() {
  need /strata/bin/strata /strata/guests/pa-probe.img || return
  need_kvm || return
  limit=${STRATA_IPA_LIMIT:-$(probe limit)}
  cpu_pa=$(strata plan --arch aarch64 --json | sed -n 's/.*"host": {"ipa_limit": [0-9]*, "pa_range": \([0-9]*\)}.*/\1/p')
  for n in 36 $limit; do
    [ "$n" -le "$limit" ] || continue
    base=$(printf '0x%x' $(( (1 << n) - (64 << 20) )))
    run /tmp/pp.out strata run --kernel /strata/guests/pa-probe.img --mem 64M --ram-base "$base" --ipa-bits "$n" \
      || { fail "N=$n base $base: exit status $?"; return; }
    grep -q "pa-probe: window $n bits" /tmp/pp.out || { fail "N=$n: window line missing"; return; }
    grep -q "pa-probe: parange [0-9] ($cpu_pa bits)" /tmp/pp.out \
      || { fail "N=$n: PARange is not the CPU's $cpu_pa: $(grep parange /tmp/pp.out)"; return; }
    grep -q "pa-probe: last page .* ok" /tmp/pp.out || { fail "N=$n: last page: $(grep 'last page' /tmp/pp.out)"; return; }
  done
  pass "RAM ending at 2^36 and 2^$limit: last page ok, PARange $cpu_pa bits either way"
}

# virtio on arm64: block pattern, rng.
CASES="$CASES guest_virtio"
case_guest_virtio() {
  need /strata/bin/strata /strata/guests/blk-test.img /strata/guests/rng-test.img || return
  need_kvm || return
  dd if=/dev/zero of=/tmp/disk.img bs=1024 count=1024 2> /dev/null
  run /tmp/blk.out strata run --kernel /strata/guests/blk-test.img --blk /tmp/disk.img --cmdline "seed=3 sectors=16" \
    || { fail "blk-test: exit status $?"; return; }
  grep -q "blk0: wrote 16 sectors, flushed, verified" /tmp/blk.out || { fail "blk-test did not verify"; return; }
  run /tmp/rng.out strata run --kernel /strata/guests/rng-test.img --rng || { fail "rng-test: exit status $?"; return; }
  [ "$(grep -c '^rng: [0-9a-f]\{64\}$' /tmp/rng.out)" = 4 ] || { fail "rng-test: not 4 draws"; return; }
  need /strata/guests/console-echo.img || return
  printf 'hello arm64\nquit\n' | strata run --kernel /strata/guests/console-echo.img --console virtio > /tmp/con.out 2>&1 \
    || { fail "console-echo: exit status $?: $(cat /tmp/con.out)"; return; }
  printf 'console-echo: ready\nhello arm64\nquit\nconsole-echo: bye\n' > /tmp/con.want
  cmp -s /tmp/con.out /tmp/con.want || { fail "console-echo output differs: $(tr '\n' '|' < /tmp/con.out)"; return; }
  pass "blk pattern verified, 4 rng draws, virtio console echo exact"
}

# ---- the nested-virtualization host (model max-nv, TESTBED §3) ----

# need_nested: fails the case unless this host kernel was booted with
# kvm-arm.mode=nested (only then does init select NESTED_CASES) and has KVM.
need_nested() {
  grep -qw 'kvm-arm.mode=nested' /proc/cmdline || { fail "not the nested host (-cpu max-nv)"; return 1; }
  need /strata/bin/strata || return 1
  need_kvm
}

# caps_value OUT KEY: the value strata caps printed for KEY.
caps_value() { awk -v k="$2" '$1 == k { sub(/^[^ \t]+[ \t]+/, ""); print; exit }' "$1"; }

# now: the emulated host's uptime in seconds.
now() { cut -d' ' -f1 /proc/uptime; }
since() { echo "$1 $(now)" | awk '{printf "%.2f", $2 - $1}'; }

# strata caps on a FEAT_NV2 KVM: the 52-bit IPA limit, guest hypervisors
# (KVM_CAP_ARM_EL2), and KVM_SET_ONE_REG lowering PARange (Linux >= 6.7).
NESTED_CASES="$NESTED_CASES nested_caps"
case_nested_caps() {
  need_nested || return
  run /tmp/caps.out strata caps || { fail "strata caps: exit status $rc"; return; }
  limit=${STRATA_IPA_LIMIT:-52}
  for kv in "ipa_limit_bits $limit" "el2_guests yes" "pa_range_writable yes"; do
    got=$(caps_value /tmp/caps.out "${kv%% *}")
    [ "$got" = "${kv#* }" ] || fail "caps: ${kv%% *} is '$got', want '${kv#* }'"
  done
  pass "ipa_limit_bits $limit, el2_guests yes, pa_range_writable yes" \
    "(cpu_pa_range_bits $(caps_value /tmp/caps.out cpu_pa_range_bits)," \
    "el2_e2h0_guests $(caps_value /tmp/caps.out el2_e2h0_guests))"
}

# pa_run NAME ARGS...: strata run pa-probe.img with ARGS into /tmp/NAME.out;
# prints the wall time (emulated clock) of the VM's whole life on the console.
pa_run() {
  name=$1; shift
  t0=$(now)
  run "/tmp/$name.out" strata run --kernel /strata/guests/pa-probe.img "$@"
  echo "  ($name: $(since "$t0") s from start to exit)"
  return "$rc"
}

# pa_want NAME LINE...: fails the case (returns 1) unless /tmp/NAME.out has
# every LINE (a grep pattern).
pa_want() {
  name=$1; shift
  for l in "$@"; do
    grep -q "$l" "/tmp/$name.out" || { fail "$name: no '$l' in: $(grep pa-probe: "/tmp/$name.out" | tr '\n' ' ')"; return 1; }
  done
}

# A guest hypervisor (--el2): pa-probe starts at EL2 and reads the PARange
# KVM gives EL2 vCPUs (48 bits, whatever the CPU's 52); --pa-range lowers
# it; the IPA window (--ipa-bits) and the PARange are separate numbers.
NESTED_CASES="$NESTED_CASES el2_pa_probe"
case_el2_pa_probe() {
  need_nested || return
  need /strata/guests/pa-probe.img || return
  pa_run el2 --el2 || { fail "--el2: exit status $rc: $(tail -n 1 /tmp/el2.out.err)"; return; }
  pa_want el2 'pa-probe: currentel 2' 'pa-probe: parange 5 (48 bits)' 'pa-probe: last page .* ok' || return
  pa_run el2-pa40 --el2 --pa-range 40 || { fail "--el2 --pa-range 40: exit status $rc: $(tail -n 1 /tmp/el2-pa40.out.err)"; return; }
  pa_want el2-pa40 'pa-probe: currentel 2' 'pa-probe: parange 2 (40 bits)' || return
  pa_run el2-ipa36 --el2 --ipa-bits 36 || { fail "--el2 --ipa-bits 36: exit status $rc: $(tail -n 1 /tmp/el2-ipa36.out.err)"; return; }
  pa_want el2-ipa36 'pa-probe: window 36 bits' 'pa-probe: parange [0-9] (48 bits)' || return
  pass "EL2, parange 48; --pa-range 40 -> 40; --ipa-bits 36 -> window 36, parange 48"
}

# --el2 --pa-range 52: 52 is the CPU's PARange as a normal vCPU reads it,
# above an EL2 vCPU's 48, so KVM cannot give it: strata must refuse it as it
# refuses any --pa-range above the CPU's (exit 2, before a VM exists).
NESTED_CASES="$NESTED_CASES el2_pa_range_above"
case_el2_pa_range_above() {
  need_nested || return
  need /strata/guests/pa-probe.img || return
  pa_run el2-pa52 --el2 --pa-range 52
  if [ "$rc" = 0 ]; then
    fail "--el2 --pa-range 52 ran (guest read: $(grep 'pa-probe: parange' /tmp/el2-pa52.out)); want a refusal: an EL2 vCPU's PARange is 48"
    return
  fi
  if [ "$rc" != 2 ] || ! grep -q 'pa-range 52' /tmp/el2-pa52.out.err; then
    fail "--el2 --pa-range 52: exit status $rc, not strata's refusal (exit 2, naming --pa-range 52): $(tail -n 1 /tmp/el2-pa52.out.err)"
    return
  fi
  pass "--el2 --pa-range 52 refused: $(tail -n 1 /tmp/el2-pa52.out.err)"
}

# ---- a real Linux guest under strata (issue 5) ----

# linux_check OUT BASE SIZE: the GUEST-INFO block in OUT (tests/arm64/guest-init)
# against the machine asked for: one memory bank BASE/SIZE in the device tree
# and as System RAM in /proc/iomem, cpus 0-1 online, virtio_blk and virtio_rng
# bound, /dev/vda's first bytes as written into the image. Prints what is
# wrong, one line each; returns 1 when anything is.
linux_check() {
  out=$1; base=$2; size=$3; bad=0
  info() { sed -n "s/^GUEST-INFO $1 //p" "$out" | tr -d '\r'; }
  grep -q '^GUEST-INFO end' "$out" || { echo "no 'GUEST-INFO end': the guest did not reach the end of its /init"; bad=1; }
  info insmod | grep -v ' ok$' | sed 's/^/insmod failed: /'
  mem=$(info memory)
  want=$(printf 'memory@%x 0x%x 0x%x' "$base" "$base" "$size")
  [ "$mem" = "$want" ] || { echo "device tree memory: '$(echo "$mem" | tr '\n' ' ')', want '$want'"; bad=1; }
  ram=$(info iomem-ram)
  want=$(printf '%08x-%08x' "$base" $((base + size - 1)))
  [ "$ram" = "$want" ] || { echo "/proc/iomem System RAM: '$(echo "$ram" | tr '\n' ' ')', want '$want'"; bad=1; }
  cpus=$(info cpus)
  [ "$cpus" = "online 0-1 count 2" ] || { echo "cpus: '$cpus', want 'online 0-1 count 2'"; bad=1; }
  virtio=$(info virtio)
  for drv in virtio_blk virtio_rng; do
    echo " $virtio " | grep -q "=$drv " || { echo "virtio: no device bound to $drv: '$virtio'"; bad=1; }
  done
  vda=$(info vda)
  [ "$vda" = "$LINUX_VDA_HEX" ] || { echo "/dev/vda first 16 bytes: '$vda', want '$LINUX_VDA_HEX'"; bad=1; }
  info vda-dmesg | grep -q "virtio_blk virtio[0-9]*: \[vda\] $LINUX_VDA_SECTORS 512-byte logical blocks" \
    || { echo "dmesg: no '[vda] $LINUX_VDA_SECTORS 512-byte logical blocks': '$(info vda-dmesg)'"; bad=1; }
  info hwrng | grep -q '^virtio_rng\.[0-9]* [0-9a-f]\{32\}$' || { echo "hwrng: '$(info hwrng)'"; bad=1; }
  return $bad
}

# Debian's arm64 kernel (tools/arm64/fetch) booted by strata with 2 vCPUs,
# a virtio disk and rng, and the guest initramfs (tests/arm64/guest-init:
# busybox, the virtio modules) reaches /init and sees the machine it was
# given, once at the default RAM base (auto IPA window) and once with RAM
# above 4 GiB in a 36-bit window. tests/arm64/run --with-linux (model max only
# in meson: a boot takes 10-20 s under TCG).
LINUX_CASES="$LINUX_CASES linux_guest"
case_linux_guest() {
  need /strata/bin/strata /strata/linux/Image /strata/linux/guest-initrd.gz || return
  need_kvm || return
  LINUX_VDA_HEX=$(printf 'strata-linux-vda' | od -An -v -tx1 | tr -d ' \n')
  LINUX_VDA_SECTORS=16384
  dd if=/dev/zero of=/tmp/linux-vda.img bs=1M count=8 2> /dev/null
  printf 'strata-linux-vda' | dd of=/tmp/linux-vda.img conv=notrunc 2> /dev/null
  # quiet before earlycon: errors still show, the rest costs no UART exits.
  cmdline="console=ttyAMA0 quiet earlycon=pl011,0x9000000 rdinit=/init panic=-1"
  passed=
  for setup in "0x40000000 0x20000000" "0x100000000 0x20000000 36"; do
    # shellcheck disable=SC2086 # split on purpose
    set -- $setup
    base=$1; size=$2; bits=${3:-}
    opts="--mem $((size >> 20))M"
    [ "$base" = 0x40000000 ] || opts="$opts --ram-base $base"
    [ -z "$bits" ] || opts="$opts --ipa-bits $bits"
    name="RAM $base+$((size >> 20))M IPA ${bits:-auto}"
    t0=$(cut -d' ' -f1 /proc/uptime)
    # shellcheck disable=SC2086
    run /tmp/linux.out timeout -s KILL "${STRATA_LINUX_TIMEOUT:-50}" \
      strata run --kernel /strata/linux/Image --initrd /strata/linux/guest-initrd.gz --cpus 2 $opts \
      --blk /tmp/linux-vda.img --rng --console stdio --cmdline "$cmdline"
    t1=$(cut -d' ' -f1 /proc/uptime)
    secs=$(echo "$t0 $t1" | awk '{printf "%.1f", $2 - $1}')
    if [ "$rc" = 137 ]; then
      fail "$name: timed out after ${STRATA_LINUX_TIMEOUT:-50} s; last line: $(tail -n 1 /tmp/linux.out)"; return
    fi
    [ "$rc" = 0 ] || fail "$name: strata exit status $rc: $(tail -n 1 /tmp/linux.out.err)"
    if ! linux_check /tmp/linux.out "$base" "$size" > /tmp/linux.bad; then
      sed 's/^/  FAIL: /' /tmp/linux.bad
      fail "$name: $(head -n 1 /tmp/linux.bad)"; return
    fi
    [ "$rc" = 0 ] || return
    echo "  $name: ok in $secs s (by the emulated host's clock)"
    passed="$passed${passed:+; }$name ${secs}s"
  done
  pass "2 cpus, virtio_blk /dev/vda + virtio_rng: $passed"
}

# ---- nested (issue 6): a guest hypervisor under strata --el2 ----

# expect_lines FILE LINE...: fails the case (returning 1) for the first LINE
# that FILE does not contain.
expect_lines() {
  file=$1; shift
  for want in "$@"; do
    grep -qF -- "$want" "$file" || { fail "$file lacks: $want"; return 1; }
  done
}

# el2-hyp at EL2 reads PARange from the CPU and its window from the device
# tree (two different numbers), builds a stage-2 for an EL1 payload that
# reports through the PL011; --trace-s2 (on stderr) shows that stage-2 with
# the payload and UART pages inside the 36-bit window and the page it put at
# 2^36 flagged. Each el2-hyp run takes about 110 s here, nearly all of it KVM
# tearing the nested VM down under emulation (the guest is done in 0.3 s).
NESTED_CASES="$NESTED_CASES el2_hyp_payload"
case_el2_hyp_payload() {
  need_nested || return
  need /strata/guests/el2-hyp.img || return
  run /tmp/el2.out strata run --el2 --kernel /strata/guests/el2-hyp.img --mem 256M --ipa-bits 36 \
    --trace-s2 --cmdline beyond=1 || { fail "exit status $?"; return; }
  expect_lines /tmp/el2.out "el2-hyp: currentel 2" "el2-hyp: parange 5 (48 bits)" "el2-hyp: window 36 bits" \
    "el2-hyp: payload at EL1 says hello" "el2-hyp: payload currentel 1" "el2-hyp: payload returned by hvc" || return
  expect_lines /tmp/el2.out.err "IPA 0x000009000000 -> 0x000009000000        0x1000 bytes  rw" \
    "-> 0x001000000000        0x1000 bytes  rw  BEYOND WINDOW" "3 ranges mapped, 1 beyond the window" || return
  pass "EL2, PARange 48 vs window 36, payload ran through stage-2 to the PL011, the output beyond the window flagged"
}

# The same without beyond=1: every output of its stage-2 lies inside the
# window; --e2h0 gives a guest hypervisor without VHE, which el2-hyp reports.
NESTED_CASES="$NESTED_CASES el2_hyp_inside_window"
case_el2_hyp_inside_window() {
  need_nested || return
  need /strata/guests/el2-hyp.img || return
  run /tmp/el2in.out strata run --el2 --e2h0 --kernel /strata/guests/el2-hyp.img --mem 256M --ipa-bits 36 --trace-s2 \
    || { fail "--e2h0: exit status $?"; return; }
  expect_lines /tmp/el2in.out "el2-hyp: e2h 0" "el2-hyp: payload returned by hvc" || return
  expect_lines /tmp/el2in.out.err "2 ranges mapped, 0 beyond the window" || return
  pass "EL2 with --e2h0: payload ran, its 2 stage-2 ranges inside the 36-bit window"
}

# ---- vhost-user backends inside the emulated host (issue 12) ----

# wait_for_socket PATH PID: waits (up to 20 s: the daemons start slowly
# under emulation) until the backend PID listens on PATH; returns 1 when it
# died or the time is up.
wait_for_socket() {
  i=0
  while [ ! -S "$1" ]; do
    kill -0 "$2" 2> /dev/null || return 1
    [ "$i" -lt 200 ] || return 1
    sleep 0.1; i=$((i + 1))
  done
}

# stop_backend PID NAME: SIGTERM (if still running) and reaping, bounded;
# prints how it ended.
stop_backend() {
  if kill -0 "$1" 2> /dev/null; then
    kill -TERM "$1" 2> /dev/null
    i=0
    while kill -0 "$1" 2> /dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$1" 2> /dev/null && { kill -KILL "$1"; echo "  $2: killed (no exit 5 s after SIGTERM)"; }
  fi
  wait "$1" 2> /dev/null
  echo "  $2: exit status $?"
}

# hexof [FILE]: the bytes of FILE (or stdin) as hex digits, as guest-init's hex.
hexof() { od -An -v -tx1 "$@" | tr -d ' \n'; }

# vhost_user_check DIR OUT: the guest's view (OUT) and the files on this side
# (DIR) after the run; prints what is wrong, one line each; returns 1 when
# anything is.
vhost_user_check() {
  dir=$1; out=$2; bad=0
  info() { sed -n "s/^GUEST-INFO $1 //p" "$out" | tr -d '\r'; }
  grep -q '^GUEST-INFO end' "$out" || { echo "no 'GUEST-INFO end': the guest did not reach the end of its /init"; bad=1; }
  info insmod | grep -v ' ok$' | sed 's/^/insmod failed: /'
  for m in virtio_blk fuse virtiofs; do
    info insmod | grep -qx "$m ok" || { echo "module $m not loaded: '$(info insmod | tr '\n' ' ')'"; bad=1; }
  done
  virtio=$(info virtio)
  for drv in virtio_blk virtiofs virtio_rng; do
    echo " $virtio " | grep -q "=$drv " || { echo "virtio: no device bound to $drv: '$virtio'"; bad=1; }
  done
  # The disk: the bytes this side wrote, its size from the daemon, the line
  # the guest wrote read back there and then here in the image.
  [ "$(info vda)" = "$(hexof "$dir/disk-head")" ] \
    || { echo "/dev/vda first 16 bytes: '$(info vda)', want '$(hexof "$dir/disk-head")'"; bad=1; }
  info vda-dmesg | grep -q 'virtio_blk virtio[0-9]*: \[vda\] 16384 512-byte logical blocks' \
    || { echo "dmesg: no '[vda] 16384 512-byte logical blocks': '$(info vda-dmesg)'"; bad=1; }
  [ "$(info vda-written)" = "$(printf '%s' "$VU_LINE" | hexof)" ] \
    || { echo "the guest read back '$(info vda-written)' at byte 512, want '$(printf '%s' "$VU_LINE" | hexof)'"; bad=1; }
  on_disk=$(dd if="$dir/disk.img" bs=512 skip=1 count=1 2> /dev/null | hexof -N ${#VU_LINE})
  [ "$on_disk" = "$(printf '%s' "$VU_LINE" | hexof)" ] \
    || { echo "image at byte 512 on this side: '$on_disk', want '$(printf '%s' "$VU_LINE" | hexof)'"; bad=1; }
  # The share: this side's file read by the guest, the guest's file here.
  [ "$(info virtiofs-mount)" = "$VU_TAG ok" ] || { echo "virtiofs mount: '$(info virtiofs-mount)'"; bad=1; }
  [ "$(info virtiofs-read)" = "$(hexof "$dir/share/from-host")" ] \
    || { echo "the guest read from-host as '$(info virtiofs-read)', want '$(hexof "$dir/share/from-host")'"; bad=1; }
  [ "$(info virtiofs-wrote)" = "$(hexof "$dir/from-guest.want")" ] \
    || { echo "the guest read its from-guest back as '$(info virtiofs-wrote)', want '$(hexof "$dir/from-guest.want")'"; bad=1; }
  [ "$(info virtiofs-umount)" = ok ] || { echo "virtiofs umount: '$(info virtiofs-umount)'"; bad=1; }
  if [ ! -f "$dir/share/from-guest" ]; then
    echo "no from-guest in the shared directory on this side"; bad=1
  elif ! cmp -s "$dir/share/from-guest" "$dir/from-guest.want"; then
    echo "from-guest on this side: '$(hexof "$dir/share/from-guest")', want '$(hexof "$dir/from-guest.want")'"; bad=1
  fi
  return $bad
}

# Debian's arm64 Linux under strata with both devices behind strata's
# vhost-user frontend, served by Debian's arm64 backends (tools/arm64/fetch
# packs them with their libraries into this host): a disk from
# qemu-storage-daemon (vhost-user-blk export of an 8 MiB image) and a
# virtio-fs share from the C virtiofsd. The guest (tests/arm64/guest-init)
# reads the image's first bytes and writes a line at byte 512, which must
# then be in the image here; it mounts the tag, reads the file this side put
# in the share and writes one that this side then reads.
LINUX_CASES="$LINUX_CASES linux_vhost_user"
case_linux_vhost_user() {
  need /strata/bin/strata /strata/linux/Image /strata/linux/guest-initrd.gz \
    /usr/bin/qemu-storage-daemon /usr/lib/qemu/virtiofsd || return
  need_kvm || return
  dir=/tmp/vhost-user
  rm -rf "$dir"; mkdir -p "$dir/share"
  VU_LINE=written-by-linux-over-vhost-user
  VU_TAG=hostshare
  printf 'strata-vhost-blk' > "$dir/disk-head"
  dd if=/dev/zero of="$dir/disk.img" bs=1M count=8 2> /dev/null
  dd if="$dir/disk-head" of="$dir/disk.img" conv=notrunc 2> /dev/null
  printf 'written by the emulated host\n' > "$dir/share/from-host"
  printf 'written by the arm64 guest\n' > "$dir/from-guest.want"

  t0=$(now)
  qemu-storage-daemon --blockdev "driver=file,node-name=file0,filename=$dir/disk.img" \
    --export "type=vhost-user-blk,id=exp0,node-name=file0,addr.type=unix,addr.path=$dir/blk.sock,writable=on" \
    > "$dir/qsd.log" 2>&1 &
  qsd=$!
  # sandbox=chroot: the default sandbox (namespaces) ends in pivot_root,
  # which the initramfs' rootfs cannot do (EINVAL).
  /usr/lib/qemu/virtiofsd --socket-path="$dir/fs.sock" -o source="$dir/share" -o cache=none -o sandbox=chroot \
    > "$dir/virtiofsd.log" 2>&1 &
  vfsd=$!
  vhost_user_run "$dir" "$qsd" "$vfsd" "$t0"
  stop_backend "$qsd" qemu-storage-daemon
  stop_backend "$vfsd" virtiofsd
  sed 's/^/  qemu-storage-daemon: /' "$dir/qsd.log"
  sed 's/^/  virtiofsd: /' "$dir/virtiofsd.log"
}

# vhost_user_run DIR QSD_PID VIRTIOFSD_PID T0: the part of case
# linux_vhost_user between starting the backends (at uptime T0) and stopping
# them.
vhost_user_run() {
  dir=$1
  wait_for_socket "$dir/blk.sock" "$2" || { fail "qemu-storage-daemon: no socket: $(tail -n 1 "$dir/qsd.log")"; return; }
  wait_for_socket "$dir/fs.sock" "$3" || { fail "virtiofsd: no socket: $(tail -n 1 "$dir/virtiofsd.log")"; return; }
  up=$(since "$4")
  echo "  both backends listening after $up s"
  cmdline="console=ttyAMA0 quiet earlycon=pl011,0x9000000 rdinit=/init panic=-1"
  t1=$(now)
  run "$dir/linux.out" timeout -s KILL "${STRATA_LINUX_TIMEOUT:-50}" \
    strata run --kernel /strata/linux/Image --initrd /strata/linux/guest-initrd.gz --cpus 2 --mem 512M \
    --device "vhost-user,socket=$dir/blk.sock,type=blk" \
    --device "vhost-user,socket=$dir/fs.sock,type=fs,tag=$VU_TAG" --rng --console stdio \
    --cmdline "$cmdline strata.write_vda=$VU_LINE strata.virtiofs=$VU_TAG"
  secs=$(since "$t1")
  if [ "$rc" = 137 ]; then
    fail "timed out after ${STRATA_LINUX_TIMEOUT:-50} s; last line: $(tail -n 1 "$dir/linux.out")"; return
  fi
  [ "$rc" = 0 ] || fail "strata exit status $rc: $(tail -n 1 "$dir/linux.out.err")"
  if ! vhost_user_check "$dir" "$dir/linux.out" > "$dir/bad"; then
    sed 's/^/  FAIL: /' "$dir/bad"
    fail "$(head -n 1 "$dir/bad")"; return
  fi
  [ "$rc" = 0 ] || return
  echo "  strata run: ok in $secs s (by the emulated host's clock)"
  pass "qemu-storage-daemon disk: first bytes read, line at 512 in the image;" \
    "virtiofsd share: host file read, guest file on the host; backends up in ${up}s, guest ${secs}s"
}

# ---- a real guest hypervisor: Linux with KVM at EL2, running strata (issue 15) ----
#
#   emulated host (max-nv)      strata run --el2 [--e2h0] [--pa-range P] --ipa-bits 36
#    └ L1: Linux 6.18 at EL2    the host's own Image; /init and these cases again
#       └ L2: hello, pa-probe   strata run inside L1, on L1's KVM
#
# L1's KVM takes its IPA limit from the PARange strata advertises (48 for an
# EL2 vCPU, or --pa-range), not from strata's 36-bit window for L1: L1 may
# give its guests more address space than it has itself, since its stage-2
# maps every L2 address to its own memory. The L0 case boots L1 and checks
# L1's result block, strata's exit status and the stage-2 that --trace-s2
# finds when L1 powers off with an L2 still running.

NESTED_LINUX_CASES=""
# Run only inside L1 (named on its command line, strata.cases=), never on a host.
L1_CASES=""
L1_WINDOW=36

# json_value FILE KEY: the string value of KEY in the one-line JSON object
# strata caps --json prints (every value there is a string).
json_value() { sed -n "s/.*\"$2\": \"\([^\"]*\)\".*/\1/p" "$1"; }

# l1_stream OUT CMD...: runs CMD (strata booting L1): its stdout, L1's
# console, into OUT and onto this console as it comes, each line marked
# "  L1| " (tests/arm64/run turns L1's result lines into TAP tests of their
# own); stderr into OUT.err, shown afterwards; the status in $rc.
l1_stream() {
  out=$1; shift
  echo "  \$ $*"
  : > "$out"
  cr=$(printf '\r')
  { "$@" 2> "$out.err"; echo $? > "$out.rc"; } | while IFS= read -r line; do
    line=${line%"$cr"}
    echo "$line" >> "$out"
    echo "  L1| $line"
  done
  rc=$(cat "$out.rc")
  sed 's/^/  ! /' "$out.err"
}

# l1_results OUT NAME...: L1's result block in OUT has NAME ok for each NAME
# and ends with their count; fails the case (returns 1) otherwise.
l1_results() {
  out=$1; shift
  for name in "$@"; do
    grep -q "^STRATA-RESULT $name ok" "$out" \
      || { fail "L1's $name: $(grep "^STRATA-RESULT $name " "$out" || echo 'no result')"; return 1; }
  done
  grep -qx "STRATA-RESULTS-END $#" "$out" \
    || { fail "L1's result block: '$(grep STRATA-RESULTS-END "$out")', want 'STRATA-RESULTS-END $#'"; return 1; }
}

# l1_trace MODE ERR BASE L2BITS: the stage-2 report strata's --trace-s2
# printed (in ERR) when L1 powered off with an L2 of L2BITS bits running.
# VTCR_EL2 is L1 KVM's for that L2: T0SZ = 64 - L2BITS, and the walker
# decoded it so. vhe: VTTBR_EL2 points at that L2's tables: L2's RAM (64
# MiB at 1 GiB) among the inputs, every output inside L1's RAM, BASE up to
# 2^L1_WINDOW. nvhe: an nVHE KVM's hyp writes 0 to VTTBR_EL2 whenever it
# returns to its host (L1's kernel at EL1, where L1 was when it powered
# off), so there is no stage-2 to list: VTTBR_EL2=0 and 0 ranges. Prints
# what is wrong; returns 1 when anything is.
l1_trace() {
  mode=$1; err=$2; base=$3; bits=$4; bad=0
  # (printed with %#llx: 0 is "0", anything else "0x...")
  vtcr=$(sed -n 's/.*VTCR_EL2=\([0-9a-fx]*\) .*/\1/p' "$err")
  vttbr=$(sed -n 's/.*VTTBR_EL2=\([0-9a-fx]*\),.*/\1/p' "$err")
  [ -n "$vtcr" ] && [ -n "$vttbr" ] || { echo "no stage-2 report: $(grep -i stage-2 "$err")"; return 1; }
  [ $((64 - (vtcr & 0x3f))) = "$bits" ] || { echo "VTCR_EL2 $vtcr: T0SZ $((vtcr & 0x3f)), want $((64 - bits)) (an L2 of $bits bits)"; bad=1; }
  grep -q "^  VTCR_EL2 decoded: 4 KiB granule, $bits-bit input (T0SZ $((64 - bits)))," "$err" \
    || { echo "the walker's decode: '$(grep 'VTCR_EL2 decoded' "$err")', want a $bits-bit input"; bad=1; }
  grep '^  IPA ' "$err" > /tmp/l1-trace.ranges
  n=$(wc -l < /tmp/l1-trace.ranges)
  grep -qx "  $n ranges\? mapped, 0 beyond the window" "$err" || { echo "summary: '$(grep 'mapped,' "$err")', want $n ranges, 0 beyond"; bad=1; }
  if [ "$mode" = nvhe ]; then
    [ $((vttbr)) = 0 ] && [ "$n" = 0 ] || { echo "nVHE: VTTBR_EL2 $vttbr and $n ranges, want 0 and 0"; bad=1; }
    return $bad
  fi
  [ "$n" -gt 0 ] || { echo "no range mapped"; return 1; }
  in_ram=0
  # shellcheck disable=SC2034 # the fields between are the arrow and the unit
  while read -r _ ipa _ out size _; do
    [ $((out)) -ge $((base)) ] && [ $((out + size)) -le $((1 << L1_WINDOW)) ] \
      || { echo "IPA $ipa -> $out + $size: outside L1's RAM $base..2^$L1_WINDOW"; bad=1; }
    [ $((ipa)) -ge $((0x40000000)) ] && [ $((ipa)) -lt $((0x44000000)) ] && in_ram=$((in_ram + 1))
  done < /tmp/l1-trace.ranges
  [ "$in_ram" -gt 0 ] || { echo "no range of L2's RAM (0x40000000, 64 MiB) among the $n"; bad=1; }
  return $bad
}

# nested_linux MODE PA_RANGE L1CASE...: boots L1 (the host's own Image, its
# initramfs from tests/arm64/run --with-nested-linux) with strata --el2
# (vhe) or --el2 --e2h0 (nvhe), 1 vCPU, 1 GiB of RAM ending at 2^36 in a
# 36-bit window, --pa-range PA_RANGE unless it is -, and --trace-s2; L1 runs
# the L1CASEs and powers off. Checks L1's result block and strata's exit
# status; for the stage-2 trace see l1_trace.
nested_linux() {
  mode=$1; pa=$2; shift 2
  need_nested || return
  need /strata/linux-nv/Image /strata/linux-nv/l1-initrd.gz || return
  limit=48  # the PARange KVM gives an EL2 vCPU (TESTBED §3)
  opts="--el2"
  extra=
  # nVHE: Linux's hyp init stalls L1 for about 100 s twice here; with
  # 52-bit VAs (LPA2, -cpu max) it made no progress in 250 s (README.md).
  [ "$mode" = vhe ] || { opts="$opts --e2h0"; extra=" arm64.nolva"; }
  [ "$pa" = - ] || { opts="$opts --pa-range $pa"; limit=$pa; }
  base=$(printf '0x%x' $(((1 << L1_WINDOW) - (1 << 30))))
  cases=$(echo "$*" | tr ' ' ',')
  cmdline="console=ttyAMA0 quiet earlycon=pl011,0x9000000 rdinit=/init panic=-1$extra strata.cases=$cases"
  cmdline="$cmdline strata.l1_mode=$mode strata.l1_limit=$limit strata.case_timeout=${STRATA_L1_CASE_TIMEOUT:-600}"
  t0=$(now)
  # shellcheck disable=SC2086 # split on purpose
  l1_stream /tmp/l1.out timeout -s KILL "${STRATA_L1_TIMEOUT:-900}" \
    strata run $opts --kernel /strata/linux-nv/Image --initrd /strata/linux-nv/l1-initrd.gz \
    --mem 1G --cpus 1 --ram-base "$base" --ipa-bits "$L1_WINDOW" --trace-s2 --cmdline "$cmdline"
  secs=$(since "$t0")
  echo "  (L1 ran $secs s by this host's clock)"
  if [ "$rc" = 137 ]; then
    fail "L1 timed out after ${STRATA_L1_TIMEOUT:-900} s; its last line: $(tail -n 1 /tmp/l1.out)"; return
  fi
  [ "$rc" = 0 ] || { fail "strata (L0) exit status $rc: $(tail -n 1 /tmp/l1.out.err)"; return; }
  l1_results /tmp/l1.out "$@" || return
  # l1_l2_live names the size of the L2 it left running.
  bits=$(sed -n 's/^L2-LIVE-BITS //p' /tmp/l1.out)
  [ -n "$bits" ] || { fail "L1 left no L2 running (no L2-LIVE-BITS line)"; return; }
  if ! l1_trace "$mode" /tmp/l1.out.err "$base" "$bits" > /tmp/l1.bad; then
    sed 's/^/  FAIL: /' /tmp/l1.bad
    fail "--trace-s2: $(head -n 1 /tmp/l1.bad)"; return
  fi
  if [ "$mode" = vhe ]; then
    s2="$(grep -c '^  IPA ' /tmp/l1.out.err) ranges, all inside 2^$L1_WINDOW"
  else
    s2="VTTBR_EL2 0 (nVHE: no stage-2 loaded in L1's host)"
  fi
  pass "L1 ($mode, IPA limit $limit) passed its $# cases in $secs s, strata exit 0; --trace-s2: a $bits-bit L2's VTCR, $s2"
}

NESTED_LINUX_CASES="$NESTED_LINUX_CASES nested_linux_vhe"
case_nested_linux_vhe() {
  nested_linux vhe - l1_kvm l1_dt l1_caps l1_l2_auto l1_l2_max l1_l2_refused l1_l2_exit l1_l2_live
}

# --pa-range lowers L1's limit with it.
NESTED_LINUX_CASES="$NESTED_LINUX_CASES nested_linux_pa40"
case_nested_linux_pa40() {
  nested_linux vhe 40 l1_kvm l1_caps l1_l2_max l1_l2_refused l1_l2_live
}

NESTED_LINUX_CASES="$NESTED_LINUX_CASES nested_linux_pa44"
case_nested_linux_pa44() {
  nested_linux vhe 44 l1_kvm l1_caps l1_l2_max l1_l2_explicit l1_l2_refused l1_l2_live
}

# L1 without VHE (--e2h0): Linux's KVM in nVHE mode.
NESTED_LINUX_CASES="$NESTED_LINUX_CASES nested_linux_nvhe"
case_nested_linux_nvhe() {
  nested_linux nvhe - l1_kvm l1_dt l1_caps l1_l2_auto l1_l2_refused l1_l2_live
}

# ---- inside L1 (strata.l1_mode=vhe|nvhe, strata.l1_limit=BITS) ----

# KVM came up at EL2 in L1, in the mode asked for, with the IPA limit that
# the PARange strata advertised sets; raw KVM (probe) agrees.
L1_CASES="$L1_CASES l1_kvm"
case_l1_kvm() {
  dmesg | grep -i 'kvm \[' | sed 's/^/  | /'
  need_kvm || return
  case $STRATA_L1_MODE in
    vhe) want='VHE mode initialized successfully' ;;
    *) want='Hyp nVHE mode initialized successfully' ;;
  esac
  dmesg | grep -q "kvm \[[0-9]*\]: $want" || { fail "no '$want' in L1's dmesg"; return; }
  dmesg | grep -q "kvm \[[0-9]*\]: IPA Size Limit: $STRATA_L1_LIMIT bits" \
    || { fail "L1's KVM: '$(dmesg | grep 'IPA Size Limit')', want $STRATA_L1_LIMIT bits"; return; }
  limit=$(probe limit)
  [ "$limit" = "$STRATA_L1_LIMIT" ] || { fail "probe limit: $limit, want $STRATA_L1_LIMIT"; return; }
  pass "$want; IPA limit $limit bits (dmesg and KVM_CAP_ARM_VM_IPA_SIZE)"
}

# The device tree L1 parsed: strata's window in /chosen, and the
# interrupts of a guest hypervisor bound: KVM's vGIC maintenance interrupt
# (the GIC node's PPI 9, INTID 25) and, where L1 runs at EL2 (VHE), its
# timer on the EL2 physical timer's PPI 10 (INTID 26), ticking.
L1_CASES="$L1_CASES l1_dt"
case_l1_dt() {
  f=/proc/device-tree/chosen/strata,ipa-bits
  need "$f" || return
  bits=$((0x$(od -An -v -tx1 "$f" | tr -d ' \n')))
  sed 's/^/  | /' /proc/interrupts
  [ "$bits" = "$L1_WINDOW" ] || { fail "$f: $bits, want $L1_WINDOW"; return; }
  # /proc/interrupts: "IRQ: COUNT GICv3 INTID Level NAME"
  irq() { awk -v id="$1" '$3 == "GICv3" && $4 == id { n = $2; $1 = $2 = $3 = $4 = $5 = ""; sub(/^ +/, ""); print n, $0; exit }' /proc/interrupts; }
  maint=$(irq 25)
  [ "${maint#* }" = vgic ] || { fail "INTID 25 (maintenance): '$maint', want KVM's vgic"; return; }
  # VHE: Linux runs at EL2 on the EL2 physical timer (PPI 10, INTID 26);
  # nVHE: at EL1 on the EL1 physical timer (PPI 14, INTID 30), and nothing
  # takes the EL2 one.
  el2=$(irq 26)
  el1=$(irq 30)
  if [ "$STRATA_L1_MODE" = vhe ]; then
    [ "${el2#* }" = arch_timer ] && [ "${el2%% *}" -gt 0 ] \
      || { fail "INTID 26 (EL2 physical timer): '$el2', want arch_timer with a count"; return; }
  else
    [ -z "$el2" ] && [ "${el1#* }" = arch_timer ] && [ "${el1%% *}" -gt 0 ] \
      || { fail "INTID 26 '$el2', INTID 30 '$el1': want nothing, and arch_timer with a count"; return; }
  fi
  pass "strata,ipa-bits $bits; INTID 25 vgic; INTID 26 ${el2:-unbound}; INTID 30 ${el1:-unbound}"
}

# strata caps inside L1: KVM's limit is the advertised PARange, strata's
# window for L1 is smaller.
L1_CASES="$L1_CASES l1_caps"
case_l1_caps() {
  run /tmp/caps.json strata caps --json || { fail "strata caps --json: exit status $rc"; return; }
  got=$(json_value /tmp/caps.json ipa_limit_bits)
  [ "$got" = "$STRATA_L1_LIMIT" ] || { fail "ipa_limit_bits '$got', want $STRATA_L1_LIMIT"; return; }
  own=$(json_value /tmp/caps.json own_window_bits)
  [ "${own%% *}" = "$L1_WINDOW" ] || { fail "own_window_bits '$own', want $L1_WINDOW"; return; }
  pass "ipa_limit_bits $got, own_window_bits ${own%% *}, cpu_pa_range_bits $(json_value /tmp/caps.json cpu_pa_range_bits)"
}

# l2 NAME ARGS...: strata run ARGS (an L2 VM) with --log-level info: stdout
# in /tmp/NAME.out, stderr in /tmp/NAME.out.err, the status in $rc; prints
# how long it took by L1's clock.
l2() {
  name=$1; shift
  t0=$(now)
  run "/tmp/$name.out" strata run --log-level info "$@"
  echo "  ($name: $(since "$t0") s by L1's clock)"
  return "$rc"
}

# l2_hello NAME BITS WANT: hello.img as L2 with --ipa-bits BITS: exit 0, its
# exact output, a VM of WANT bits. Fails the case (returns 1) otherwise.
l2_hello() {
  l2 "$1" --kernel /strata/guests/hello.img --cmdline "hello world" --mem 64M --ipa-bits "$2" \
    || { fail "$1: exit status $rc: $(tail -n 1 "/tmp/$1.out.err")"; return 1; }
  printf 'hello from strata\nbootargs: hello world\nmemory: 67108864 bytes\ncpus: 1\n' > /tmp/hello.want
  cmp -s "/tmp/$1.out" /tmp/hello.want || { fail "$1: output '$(head -n 1 "/tmp/$1.out")'"; return 1; }
  grep -q "VM type $3 (IPA window $3 bits" "/tmp/$1.out.err" \
    || { fail "$1: want VM type $3: $(grep 'VM type' "/tmp/$1.out.err")"; return 1; }
}

# l2_pa_probe NAME BITS N: pa-probe.img as L2 with --ipa-bits BITS, a VM of
# N bits with its 64 MiB of RAM ending at 2^N: it reads the window from the
# device tree, the PARange L1 advertises, and its last page works. Fails the
# case (returns 1) otherwise.
l2_pa_probe() {
  base=$(printf '0x%x' $(((1 << $3) - (64 << 20))))
  l2 "$1" --kernel /strata/guests/pa-probe.img --mem 64M --ram-base "$base" --ipa-bits "$2" \
    || { fail "$1: exit status $rc: $(tail -n 1 "/tmp/$1.out.err")"; return 1; }
  grep -q "VM type $3 (IPA window $3 bits" "/tmp/$1.out.err" \
    || { fail "$1: want VM type $3: $(grep 'VM type' "/tmp/$1.out.err")"; return 1; }
  for want in "pa-probe: window $3 bits" "pa-probe: parange [0-9] ($STRATA_L1_LIMIT bits)" \
              "pa-probe: last page 0x$(printf '%x' $(((1 << $3) - 4096))) ok"; do
    grep -q "$want" "/tmp/$1.out" || { fail "$1: no '$want': $(grep pa-probe: "/tmp/$1.out" | tr '\n' ' ')"; return 1; }
  done
}

L1_CASES="$L1_CASES l1_l2_auto"
case_l1_l2_auto() {
  l2_hello hello-auto auto 32 || return
  pass "hello at --ipa-bits auto: VM type 32, output exact"
}

# --ipa-bits max: a VM of L1's limit, its RAM at the top.
L1_CASES="$L1_CASES l1_l2_max"
case_l1_l2_max() {
  l2_pa_probe pa-probe-max max "$STRATA_L1_LIMIT" || return
  pass "pa-probe at --ipa-bits max: VM type $STRATA_L1_LIMIT, RAM ending at 2^$STRATA_L1_LIMIT works, parange $STRATA_L1_LIMIT bits"
}

# An explicit N just above strata's window for L1, the L2's RAM at its top.
L1_CASES="$L1_CASES l1_l2_explicit"
case_l1_l2_explicit() {
  n=$((L1_WINDOW + 1))
  l2_pa_probe "pa-probe-$n" "$n" "$n" || return
  pass "pa-probe at --ipa-bits $n: VM type $n, RAM ending at 2^$n works, parange $STRATA_L1_LIMIT bits"
}

L1_CASES="$L1_CASES l1_l2_refused"
case_l1_l2_refused() {
  over=$((STRATA_L1_LIMIT + 1))
  l2 refused --kernel /strata/guests/hello.img --ipa-bits "$over"
  [ "$rc" = 2 ] && grep -q "above this host's IPA limit of $STRATA_L1_LIMIT bits" /tmp/refused.out.err \
    || { fail "--ipa-bits $over: exit status $rc: $(tail -n 1 /tmp/refused.out.err)"; return; }
  pass "--ipa-bits $over: exit 2, $(tail -n 1 /tmp/refused.out.err)"
}

# The L2's exit status comes out of strata in L1 (exit-code: 5 -> 11).
L1_CASES="$L1_CASES l1_l2_exit"
case_l1_l2_exit() {
  l2 exit-code --kernel /strata/guests/exit-code.img --cmdline code=5
  [ "$rc" = 11 ] || { fail "exit-code code=5: exit status $rc, want 11"; return; }
  pass "exit-code code=5: strata in L1 exits 11"
}

# An L2 that stays: console-echo (waiting for input that never comes) in a
# 40-bit VM, still running when L1 powers off, so that the stage-2 L0's
# --trace-s2 finds in L1's EL2 registers is the one L1 KVM built for it.
L1_CASES="$L1_CASES l1_l2_live"
case_l1_l2_live() {
  bits=40
  [ "$bits" -le "$STRATA_L1_LIMIT" ] || bits=$STRATA_L1_LIMIT
  (sleep 100000 | strata run --kernel /strata/guests/console-echo.img --console virtio --mem 64M --ipa-bits "$bits" \
     > /tmp/live.out 2>&1) &
  i=0
  while ! grep -q 'console-echo: ready' /tmp/live.out 2> /dev/null; do
    [ "$i" -lt 600 ] || { fail "console-echo did not start: $(tail -n 2 /tmp/live.out | tr '\n' ' ')"; return; }
    sleep 0.2; i=$((i + 1))
  done
  echo "L2-LIVE-BITS $bits"
  pass "console-echo running as a $bits-bit L2 while L1 powers off"
}
