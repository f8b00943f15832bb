#!/usr/bin/env python3
"""tests/unit/fdt/schema_test.py: strata's DTBs against Linux's device-tree schema.

  schema_test.py STRATA CACHE_DIR

Does what the kernel's `make dtbs_check` does, on the DTBs `STRATA dtb` writes
for a spread of machines (both architectures, GICv2 and v3, EL2, many CPUs,
an initrd, every virtio device kind):

  dt-validate -m -u BINDINGS -p processed-schema.json FILE.dtb ...

BINDINGS is Documentation/devicetree/bindings of Debian's linux-source-6.1
(the tarball in /usr/src); the processed schema is made from it and from our
own bindings (tests/unit/fdt/bindings: the x86_64 root and IOAPIC, which no
Linux binding covers) by dt-mk-schema. Both are cached in CACHE_DIR, keyed on
the tarball, the dt-schema version and our bindings, so only the first run
pays for them (about half a minute).

Every line dt-validate prints is a failure except the two findings that
/chosen/strata,ipa-bits causes, and those must appear for every DTB: the
vendor prefix "strata" is not registered (vendor-prefixes.yaml) and chosen's
schema lists no such property (chosen.yaml). Seeing them is also the proof
that dt-validate read and checked each DTB. One more DTB, an aarch64 tree with
its serial node renamed back to "pl011@...", must give a finding: the check
can fail, and the filter does not swallow real findings.

Exit status: 0 pass, 1 fail (missing tools are a failure: tools/setup
installs them).
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUR_BINDINGS = os.path.join(HERE, 'bindings')
KERNEL_TARBALL = '/usr/src/linux-source-6.1.tar.xz'
TOOLS = ['dt-validate', 'dt-mk-schema', 'tar', 'dtc']

# name -> `strata dtb` machine options. Device paths are not opened, so the
# block image need not exist; the initrd is read for its size only. Each DTB
# costs dt-validate about half a second, so four machines cover the spread.
# Not here: an aarch64 initrd that ends at 4 GiB or above. Its two-cell
# linux,initrd-start/end are what Linux reads, but chosen.yaml of dt-schema
# 2022.08 types them uint32 (fdt/dtb.cpp, chosen).
MACHINES = {
    'x86_64-every-virtio-kind-initrd': [
        '--arch', 'x86_64', '--cpus', '2', '--mem', '5G', '--initrd', '@INITRD@',
        '--console', 'virtio', '--blk', '/nonexistent/disk.img', '--net', 'tap=strata0', '--rng'],
    'aarch64-gicv3-every-virtio-kind': [
        '--arch', 'aarch64', '--gic', 'v3', '--cpus', '8', '--mem', '64G',
        '--host-ipa-limit', '44', '--console', 'virtio', '--blk', '/nonexistent/disk.img,ro',
        '--net', 'tap=strata0', '--rng'],
    'aarch64-gicv2-ram-base': [
        '--arch', 'aarch64', '--gic', 'v2', '--cpus', '4', '--ram-base', '0x200000000',
        '--blk', '/nonexistent/disk.img'],
    'aarch64-el2-18-cpus-initrd': [
        '--arch', 'aarch64', '--el2', '--cpus', '18', '--mem', '1G', '--initrd', '@INITRD@',
        '--host-ipa-limit', '36', '--ipa-bits', 'max', '--rng'],
}

# The two findings /chosen/strata,ipa-bits causes: (message after "FILE: ",
# the schema file the "From schema:" line names). The first lists every
# registered vendor prefix, so only its start is fixed; the name list in
# both is exactly the one property.
IPA_BITS = "chosen: 'strata,ipa-bits' does not match any of the regexes: "
ALLOWED = [
    (re.compile(re.escape(IPA_BITS) + r"'\^#\.\*', .*, 'pinctrl-\[0-9\]\+'"),
     '/bindings/vendor-prefixes.yaml'),
    (re.compile(re.escape(IPA_BITS + "'^framebuffer', 'pinctrl-[0-9]+'") + '$'),
     '/dtschema/schemas/chosen.yaml'),
]

MUTANT = 'aarch64-serial-named-pl011'


def fail(message):
    print('FAIL: ' + message)
    sys.exit(1)


def cache_key():
    st = os.stat(KERNEL_TARBALL)
    version = subprocess.run(['dt-mk-schema', '--version'], capture_output=True, text=True,
                             check=True).stdout.strip()
    ours = hashlib.sha256()
    for name in sorted(os.listdir(OUR_BINDINGS)):
        with open(os.path.join(OUR_BINDINGS, name), 'rb') as f:
            ours.update(name.encode() + b'\0' + f.read())
    return {'tarball': [KERNEL_TARBALL, st.st_size, st.st_mtime_ns],
            'dt-schema': version, 'ours': ours.hexdigest()}


def processed_schema(cache):
    """The bindings directory and processed-schema.json, made once per key."""
    bindings = os.path.join(cache, 'bindings')
    schema = os.path.join(cache, 'processed-schema.json')
    stamp = os.path.join(cache, 'key.json')
    key = cache_key()
    os.makedirs(cache, exist_ok=True)
    with open(os.path.join(cache, 'lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            with open(stamp) as f:
                if json.load(f) == key and os.path.isdir(bindings) and os.path.isfile(schema):
                    return bindings, schema
        except (OSError, ValueError):
            pass
        started = time.monotonic()
        for stale in (stamp, schema):
            if os.path.exists(stale):
                os.unlink(stale)
        shutil.rmtree(bindings, ignore_errors=True)
        work = os.path.join(cache, 'extract.tmp')  # a run killed half-way leaves it
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        # linux-source-6.1/Documentation/devicetree/bindings/... -> bindings/...
        subprocess.run(['tar', '-xf', KERNEL_TARBALL, '-C', work, '--strip-components=3',
                        '--wildcards', '*/Documentation/devicetree/bindings/*.yaml'], check=True)
        os.rename(os.path.join(work, 'bindings'), bindings)
        os.rmdir(work)
        made = subprocess.run(['dt-mk-schema', '-j', '-o', schema + '.tmp', bindings, OUR_BINDINGS],
                              capture_output=True, text=True)
        # dt-mk-schema leaves out a schema it cannot use and says so on
        # stderr: for ours that would make the x86_64 nodes unmatched.
        if made.returncode != 0 or OUR_BINDINGS in made.stderr:
            fail('dt-mk-schema failed:\n' + made.stderr)
        os.rename(schema + '.tmp', schema)
        with open(stamp, 'w') as f:
            json.dump(key, f)
        print(f'made the processed schema in {time.monotonic() - started:.1f} s')
        return bindings, schema


def make_dtbs(strata, work):
    initrd = os.path.join(work, 'initrd')
    with open(initrd, 'wb') as f:
        f.write(b'\0' * 300_000)
    dtbs = {}
    for name, options in MACHINES.items():
        path = os.path.join(work, name + '.dtb')
        args = [initrd if o == '@INITRD@' else o for o in options]
        run = subprocess.run([strata, 'dtb', *args, '--cmdline', 'console=hvc0', '-o', path],
                             capture_output=True, text=True)
        if run.returncode != 0:
            fail(f'strata dtb {" ".join(args)} failed:\n{run.stdout}{run.stderr}')
        dtbs[name] = path
    # The mutant: an aarch64 tree whose serial node has its old model name.
    source = subprocess.run(['dtc', '-q', '-I', 'dtb', '-O', 'dts',
                             dtbs['aarch64-gicv3-every-virtio-kind']],
                            capture_output=True, text=True, check=True).stdout
    renamed = source.replace('serial@9000000 {', 'pl011@9000000 {')
    if renamed == source:
        fail('the mutant was not made: no serial@9000000 node in the aarch64 tree')
    dtbs[MUTANT] = os.path.join(work, MUTANT + '.dtb')
    subprocess.run(['dtc', '-q', '-I', 'dts', '-O', 'dtb', '-o', dtbs[MUTANT]],
                   input=renamed, text=True, check=True)
    return dtbs


def findings(output):
    """dt-validate's output as (first line, continuation lines) pairs."""
    out = []
    for line in output.splitlines():
        if line.startswith('\t') and out:
            out[-1][1].append(line.strip())
        elif line.strip():
            out.append((line, []))
    return out


def allowed(message, more):
    """The index in ALLOWED of the finding (message, more), or None."""
    for i, (pattern, schema_file) in enumerate(ALLOWED):
        if (pattern.fullmatch(message) and len(more) == 1 and
                more[0].startswith('From schema: ') and more[0].endswith(schema_file)):
            return i
    return None


def short(line, limit=300):
    return line if len(line) <= limit else line[:limit] + ' ...'


def main():
    if len(sys.argv) != 3:
        fail('usage: schema_test.py STRATA CACHE_DIR')
    strata, cache = sys.argv[1], sys.argv[2]
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not os.path.isfile(KERNEL_TARBALL):
        missing.append(KERNEL_TARBALL)
    if missing:
        fail('missing ' + ', '.join(missing) +
             ': tools/setup installs them (dt-schema, linux-source-6.1, device-tree-compiler)')

    started = time.monotonic()
    bindings, schema = processed_schema(os.path.abspath(cache))
    with tempfile.TemporaryDirectory(prefix='strata-schema-') as work:
        dtbs = make_dtbs(strata, work)
        run = subprocess.run(['dt-validate', '-m', '-u', bindings, '-p', schema, *dtbs.values()],
                             capture_output=True, text=True)
    if run.returncode != 0:
        fail(f'dt-validate exited with {run.returncode}:\n{run.stdout}{run.stderr}')

    by_dtb = {name: [] for name in dtbs}
    unclaimed = []
    for first, more in findings(run.stdout + run.stderr):
        # "FILE: node: message", or "FILE:0:0: /path: message" for -m
        name = next((n for n, p in dtbs.items() if first.startswith(p + ':')), None)
        if name is None:
            unclaimed.append((first, more))
        else:
            by_dtb[name].append((re.sub(r'^(:\d+)*: ', '', first[len(dtbs[name]):]), more))

    problems = [short(first) + ''.join('\n\t' + short(m) for m in more)
                for first, more in unclaimed]
    for name, found in by_dtb.items():
        if name == MUTANT:
            if not any("'pl011@9000000' does not match" in m for m, _ in found):
                problems.append(f'{MUTANT}: dt-validate did not flag the node named pl011@9000000')
            continue
        seen = []
        for message, more in found:
            which = allowed(message, more)
            if which is None:
                problems.append(short(f'{name}: {message}') +
                                ''.join('\n\t' + short(m) for m in more))
            else:
                seen.append(which)
        if sorted(seen) != list(range(len(ALLOWED))):
            problems.append(f'{name}: expected each of the {len(ALLOWED)} findings of '
                            f'/chosen/strata,ipa-bits once (proof it was checked), '
                            f'got {len(seen)}')
    if problems:
        fail(f'{len(problems)} finding(s) of Linux\'s schema:\n' + '\n'.join(problems))
    print(f'{len(MACHINES)} machines pass Linux\'s schema (+1 mutant caught) '
          f'in {time.monotonic() - started:.1f} s')


if __name__ == '__main__':
    main()
