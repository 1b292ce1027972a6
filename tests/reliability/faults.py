"""What the reliability tests share: migrations as tests/integration runs them
(test_migration.Base), helpers that misbehave on purpose (wrappers put first
in mtvd's PATH: test code standing in front of the real programs), and
looks at how far a VM got."""
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from test_migration import Base, mig_vm_path, read  # noqa: E402,F401
from ovabuilder import make_ova  # noqa: E402,F401


class Migrations(Base):
    RATE = 400000   # bytes per second: copies long enough to act on

    def start_mtvd(self):
        self.bin = os.path.join(self.dir, "bin")
        os.makedirs(self.bin, exist_ok=True)
        self.sb.env["PATH"] = self.bin + ":" + os.environ.get("PATH", "/usr/bin:/bin")
        super().start_mtvd()

    def wrap(self, program, body):
        """A @program first in mtvd's PATH: the shell @body, which may exec
        the real one as "$REAL" "$@"."""
        real = subprocess.run(["sh", "-c", f"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "
                                           f"command -v {program}"], capture_output=True, text=True).stdout.strip()
        path = os.path.join(self.bin, program)
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\nREAL={real}\n{body}\n")
        os.chmod(path, 0o755)

    def interpose(self, filters, params):
        """The disk server behind nbdkit with @filters (["--filter=error"])
        and their @params (["error-pread-rate=10%"]): mtvd's socket is
        nbdkit's, the real qemu-nbd serves another that nbdkit reads."""
        filters, params = " ".join(map(shlex.quote, filters)), " ".join(map(shlex.quote, params))
        self.wrap("qemu-nbd", f"""sock=; prev=
for a do
  shift
  if [ "$prev" = --socket ]; then sock=$a; set -- "$@" "$a.inner"; else set -- "$@" "$a"; fi
  prev=$a
done
"$REAL" "$@" & inner=$!
while [ ! -S "$sock.inner" ]; do kill -0 $inner 2>/dev/null || exit 1; sleep 0.02; done
nbdkit -f -U "$sock" {filters} nbd socket="$sock.inner" {params} & kit=$!
trap 'kill $kit $inner 2>/dev/null; wait; exit 0' TERM INT
wait $kit
kill $inner 2>/dev/null
wait""")

    def vm(self, name):
        return self.vm_status().get(name, {})

    def bytes_copied(self, name):
        return self.sb.objects()[mig_vm_path(self, name)]["org.mtvd.Mtv1.MigrationVm"]["BytesTransferred"]

    def wait_vm(self, name, pred, what, timeout=60):
        return self.wait_plan("p", lambda s: pred(self.vm(name)), what, timeout=timeout)

    def wait_copying(self, name, at_least=1):
        self.wait_vm(name, lambda vm: vm.get("phase") == "CopyDisks" and self.bytes_copied(name) >= at_least,
                     f"{name} to be copying")

    def wait_end(self, timeout=120):
        return self.wait_plan("p", lambda s: s["phase"] not in ("Executing", "Ready"), "the migration to end",
                              timeout=timeout)

    def pids(self, pattern):
        out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split()
        return [int(p) for p in out]

    def log(self):
        with open(self.sb.mtvd_log.name, errors="replace") as f:
            return f.read()

    def reason(self, name):
        return self.vm(name).get("error", {}).get("reasons", [""])[0]

    def wait_gone(self, pattern, timeout=10):
        deadline = time.monotonic() + timeout
        while self.pids(pattern) and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.pids(pattern)
