"""govmomi's vCenter simulator for the tests: tests/vsphere/vcsim*.go built
offline (Debian's golang-go and golang-github-vmware-govmomi-dev) into the
build tree once, and started on 127.0.0.1 with TLS."""
import glob
import json
import os
import subprocess
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES = [os.path.join(HERE, name) for name in ("vcsim.go", "vcsim_cbt.go")]


def build(build_root):
    """The simulator binary, built when missing or older than its source."""
    out_dir = os.path.join(build_root, "tests", "vsphere")
    binary = os.path.join(out_dir, "vcsim")
    if os.path.exists(binary) and all(os.path.getmtime(binary) >= os.path.getmtime(s) for s in SOURCES):
        return binary
    os.makedirs(out_dir, exist_ok=True)
    env = dict(os.environ, GOPATH="/usr/share/gocode", GO111MODULE="off",
               GOCACHE=os.path.join(out_dir, "go-cache"), GOFLAGS="")
    subprocess.run(["go", "build", "-o", binary] + SOURCES, check=True, env=env, cwd=HERE, timeout=600)
    return binary


class Vcsim:
    """A running simulator: .url, .cafile, .user, .password."""

    def __init__(self, build_root, password="mtv-test-pw", vms=2, tmp=None, esx=False, cbt_window=None):
        env = dict(os.environ)
        self.tmp = tmp or tempfile.gettempdir()
        if tmp:
            env["TMPDIR"] = tmp   # its datastores' files live there
        argv = [build(build_root), "-password", password, "-vms", str(vms)] + (["-esx"] if esx else [])
        if cbt_window:
            argv += ["-cbt-window", str(cbt_window)]
        self.proc = subprocess.Popen(argv,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None if os.environ.get("VCSIM_LOG") else subprocess.DEVNULL,
                                     text=True, env=env)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("vcsim did not start")
        info = json.loads(line)
        self.url, self.cafile, self.user, self.password = info["url"], info["cafile"], info["user"], info["password"]

    def flat_file(self, datastore_path):
        """The local file that holds the data of the disk at @datastore_path
        ("[LocalDS_0] VM/disk1.vmdk"): its -flat.vmdk under the datastore's
        directory in $TMPDIR/govcsim-*."""
        rel = datastore_path.split("] ", 1)[1][:-len(".vmdk")] + "-flat.vmdk"
        found = glob.glob(os.path.join(self.tmp, "govcsim-*", rel))
        if len(found) != 1:
            raise AssertionError(f"the flat file of {datastore_path}: {found}")
        return found[0]

    def stop(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
