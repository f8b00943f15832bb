# tests/arm64/cases.sh: the test cases run inside the emulated arm64 host.
#
# Sourced by /init (tests/arm64/init, busybox ash). To add a case: write a
# function case_NAME and append NAME to CASES. A case gives its verdict with
# `pass DETAIL`, `fail DETAIL` or `skip DETAIL` (a fail sticks; no verdict
# counts as a fail); each case runs in its own shell, stdin from /dev/null,
# under a timeout (strata.case_timeout=S on the kernel command line, default
# 120 s). Helpers from /init: need_kvm, need FILE..., run OUT CMD...
#
# In the initramfs:
#   /strata/bin/strata          the cross-built strata (build-arm64/tools/strata)
#   /strata/bin/probe           tests/arm64/probe.c: raw KVM ground truth
#   /strata/bin/crosscheck      tools/arm64/crosscheck, when it was built
#   /strata/guests/             the aarch64 guests of build-arm64/tests/guests
#   /strata/linux/Image, /strata/linux/modules/
#                               with tests/arm64/run --with-linux
# Variables: STRATA_CPU (QEMU -cpu model), STRATA_IPA_LIMIT (the IPA limit
# TESTBED gives for that model), STRATA_* for any strata.*= word.
# Temporary files go to /tmp (a tmpfs).

CASES=""

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

# Boost.Asio on io_uring, liburing, libfdt, program_options in the cross
# build's static binary, on the real arm64 kernel.
CASES="$CASES crosscheck"
case_crosscheck() {
  need /strata/bin/crosscheck || return
  if run /tmp/crosscheck.out crosscheck --file /tmp/crosscheck.bin; then
    pass "$(tail -n 1 /tmp/crosscheck.out)"
  else
    fail "$(grep FAIL /tmp/crosscheck.out | head -n 1)"
  fi
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
