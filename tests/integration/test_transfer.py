"""mtv-transfer against real servers: qemu-nbd over qcow2 images (with a
persistent dirty bitmap), nbdkit (memory, error and delay filters)."""
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

from mtvtest import BUILD_ROOT

TRANSFER = os.environ.get("MTV_TRANSFER") or os.path.join(BUILD_ROOT, "daemon", "transfer", "mtv-transfer")


def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True)


class Server:
    """qemu-nbd or nbdkit on a private socket; URI in .uri."""

    def __init__(self, tmp, argv_fn, name):
        self.sock = os.path.join(tmp, name + ".sock")
        self.proc = subprocess.Popen(argv_fn(self.sock), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{argv_fn(self.sock)[0]} did not start: {self.proc.stderr.read().decode()}")
            time.sleep(0.02)
        self.uri = f"nbd+unix:///?socket={self.sock}"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        if os.path.exists(self.sock):
            os.unlink(self.sock)  # a server started again on it waits for its own


class Transfer(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="mtv-transfer-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        subprocess.run(["rm", "-rf", self.tmp])

    def path(self, name):
        return os.path.join(self.tmp, name)

    def qemu_nbd(self, image, fmt="qcow2", bitmap=None, name="src"):
        extra = ["-B", bitmap] if bitmap else []
        s = Server(self.tmp, lambda sock: ["qemu-nbd", "-r", "-f", fmt, "-k", sock, "-t"] + extra + [image], name)
        self.servers.append(s)
        return s.uri

    def nbdkit(self, *args, name="kit"):
        s = Server(self.tmp, lambda sock: ["nbdkit", "-f", "-U", sock] + list(args), name)
        self.servers.append(s)
        return s.uri

    def image(self, name, size, writes):
        path = self.path(name)
        sh("qemu-img", "create", "-q", "-f", "qcow2", path, str(size))
        cmds = []
        for pattern, offset, length in writes:
            cmds += ["-c", f"write -P {pattern} {offset} {length}"]
        if cmds:
            sh("qemu-io", "-f", "qcow2", *cmds, path)
        return path

    def transfer(self, src, dst, *args, check=True):
        r = subprocess.run([TRANSFER, "--progress-fd", "2", *args, src, dst], capture_output=True, text=True, timeout=120)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
            return json.loads(r.stdout), [json.loads(l) for l in r.stderr.splitlines() if l.startswith("{")]
        return r

    def same(self, a, fmt_a, b, fmt_b="raw"):
        r = subprocess.run(["qemu-img", "compare", "-f", fmt_a, "-F", fmt_b, a, b], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_full_copy_sparse_and_verified(self):
        src = self.image("src.qcow2", 256 << 20, [("0xab", 0, "3M"), ("0x11", "100M", "64k"), ("0x22", "255M", "1M")])
        summary, progress = self.transfer(self.qemu_nbd(src), self.path("out.raw"))
        self.same(src, "qcow2", self.path("out.raw"))
        self.assertEqual(summary["size"], 256 << 20)
        self.assertEqual(summary["bytes_written"], (3 << 20) + (64 << 10) + (1 << 20))
        self.assertLess(summary["bytes_read"], 8 << 20)          # holes are never read
        self.assertTrue(summary["verified"])
        self.assertRegex(summary["checksum"], "^[0-9a-f]{64}$")
        self.assertLess(os.stat(self.path("out.raw")).st_blocks * 512, 16 << 20)  # holes stay holes
        self.assertEqual(progress[-1]["bytes_done"], progress[-1]["bytes_total"])
        # The same source gives the same checksum.
        again, _ = self.transfer(self.qemu_nbd(src, name="src2"), self.path("out2.raw"))
        self.assertEqual(again["checksum"], summary["checksum"])

    def test_zeroes_in_data_are_not_written(self):
        src = self.image("z.qcow2", 16 << 20, [("0", 0, "8M"), ("0x5", "8M", "1M")])
        summary, _ = self.transfer(self.qemu_nbd(src), self.path("z.raw"))
        self.same(src, "qcow2", self.path("z.raw"))
        self.assertEqual(summary["bytes_written"], 1 << 20)

    def test_odd_size_and_small_requests(self):
        raw = self.path("odd.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom((5 << 20) + 1536))
        summary, _ = self.transfer(self.qemu_nbd(raw, fmt="raw"), self.path("odd.out"), "--request-size", "1")
        self.same(raw, "raw", self.path("odd.out"))
        self.assertEqual(os.path.getsize(self.path("odd.out")), (5 << 20) + 1536)

    def test_dirty_bitmap_delta(self):
        src = self.image("d.qcow2", 64 << 20, [("0x1", 0, "16M")])
        first, _ = self.transfer(self.qemu_nbd(src, name="s1"), self.path("d.raw"))
        self.servers.pop().stop()
        sh("qemu-img", "bitmap", "--add", src, "b0")
        sh("qemu-io", "-f", "qcow2", "-c", "write -P 0x9 4M 512k", "-c", "write -P 0x8 40M 128k", src)
        delta, _ = self.transfer(self.qemu_nbd(src, bitmap="b0", name="s2"), self.path("d.raw"), "--extents", "dirty-bitmap:b0")
        self.same(src, "qcow2", self.path("d.raw"))
        # The bitmap's granularity is 64 KiB; both writes are aligned to it.
        self.assertEqual(delta["bytes_read"], (512 << 10) + (128 << 10))

    def test_extents_from_a_list(self):
        src = self.image("l.qcow2", 8 << 20, [("0x3", 0, "8M")])
        with open(self.path("list"), "w") as f:
            f.write("# offset length\n1048576 65536\n4194304 4096\n")
        summary, _ = self.transfer(self.qemu_nbd(src), self.path("l.raw"), "--extents", "file:" + self.path("list"))
        self.assertEqual(summary["bytes_read"], 65536 + 4096)
        with open(self.path("list"), "w") as f:
            f.write("1048576 x\n")
        r = self.transfer(self.qemu_nbd(src, name="l2"), self.path("l2.raw"), "--extents", "file:" + self.path("list"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("line 1", r.stderr)

    def test_nbd_to_nbd(self):
        src = self.image("n.qcow2", 32 << 20, [("0x7", "1M", "2M"), ("0x6", "30M", "1M")])
        dst = self.nbdkit("memory", "size=32M", name="dst")
        summary, _ = self.transfer(self.qemu_nbd(src), dst)
        self.assertTrue(summary["verified"])
        self.same(src, "qcow2", dst.replace("nbd+unix:///?socket=", "nbd:unix:"))

    def test_server_block_size_limits_are_honoured(self):
        # Servers may refuse requests longer than their maximum block size
        # (nbdkit's blocksize-policy filter with the error policy refuses them
        # as such a server does): reads and writes must fit both ends.
        src = self.image("bs.qcow2", 32 << 20, [("0x7", "1M", "5M"), ("0x6", "30M", "1M")])
        raw = self.path("bs.raw")
        sh("qemu-img", "convert", "-f", "qcow2", "-O", "raw", src, raw)
        src_uri = self.nbdkit("--filter=blocksize-policy", "file", raw, "blocksize-error-policy=error",
                              "blocksize-maximum=256K", "blocksize-minimum=512", name="bsrc")
        dst = self.nbdkit("--filter=blocksize-policy", "memory", "size=32M", "blocksize-error-policy=error",
                          "blocksize-maximum=96K", "blocksize-minimum=4096", name="bdst")
        summary, _ = self.transfer(src_uri, self.path("bs.out"))     # 1 MiB requests by default
        self.same(raw, "raw", self.path("bs.out"))
        summary, _ = self.transfer(src_uri, dst, "--request-size", "4M")
        self.assertTrue(summary["verified"])
        self.same(raw, "raw", dst.replace("nbd+unix:///?socket=", "nbd:unix:"))

    def test_nbd_destination_without_zero_support(self):
        # A server that cannot be asked for zeroes gets them written; one that
        # is read-only is refused before anything is read.
        src = self.image("nz.qcow2", 32 << 20, [("0x7", "1M", "2M"), ("0x6", "30M", "1M")])
        dst = self.nbdkit("--filter=nozero", "memory", "size=32M", name="nozero")
        # Fill it first so that the holes must really be zeroed.
        sh("nbdcopy", self.nbdkit("pattern", "size=32M", name="pattern"), dst)
        summary, _ = self.transfer(self.qemu_nbd(src), dst)
        self.assertTrue(summary["verified"])
        self.same(src, "qcow2", dst.replace("nbd+unix:///?socket=", "nbd:unix:"))
        r = self.transfer(self.qemu_nbd(src, name="src2"), self.nbdkit("-r", "memory", "size=32M", name="ro"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("is read-only", r.stderr)

    def test_nbd_destination_that_loses_writes_fails_verification(self):
        # nbdkit's null plugin accepts every write and reads back zeroes: the
        # read-back must notice, name the offset, and fail the copy.
        src = self.image("lost.qcow2", 32 << 20, [("0x5", "3M", "5M"), ("0x9", "20M", "1M")])
        r = self.transfer(self.qemu_nbd(src), self.nbdkit("null", "size=32M", name="liar"), check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("verification failed", r.stderr)
        offset = int(re.search(r"at offset (\d+)", r.stderr).group(1))
        self.assertTrue(3 << 20 <= offset < 8 << 20 or 20 << 20 <= offset < 21 << 20, r.stderr)
        r = self.transfer(self.qemu_nbd(src, name="src2"), self.nbdkit("null", "size=32M", name="liar2"), "--no-verify")
        self.assertFalse(r[0]["verified"])

    def test_destination_too_small_is_refused(self):
        src = self.image("big.qcow2", 64 << 20, [])
        r = self.transfer(self.qemu_nbd(src), self.nbdkit("memory", "size=1M", name="small"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("less than the source", r.stderr)

    def test_read_errors_fail_cleanly(self):
        raw = self.path("e.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(8 << 20))
        src = self.nbdkit("--filter=error", "file", raw, "error-pread=EIO", "error-pread-rate=100%", name="err")
        r = self.transfer(src, self.path("e.out"), check=False)
        self.assertEqual(r.returncode, 1)
        # Several reads fail at once; the message names one of them, its offset and the cause.
        self.assertRegex(r.stderr, r"at offset \d+ failed 5 times: .*Input/output error")
        self.assertEqual(r.stdout, "")

    def test_transient_read_errors_are_retried(self):
        raw = self.path("flaky.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(16 << 20))
        src = self.nbdkit("--filter=error", "file", raw, "error-pread=EIO", "error-pread-rate=20%", name="flaky")
        summary, _ = self.transfer(src, self.path("flaky.out"), "--request-size", "1")
        self.assertTrue(summary["verified"])
        self.same(raw, "raw", self.path("flaky.out"))

    def test_nbd_destination_write_errors(self):
        # Transient write and zero errors are tried again on fresh connections;
        # persistent ones fail naming the offset and the cause.
        src = self.image("w.qcow2", 32 << 20, [("0x7", "1M", "8M"), ("0x9", "20M", "3M")])
        flaky = self.nbdkit("--filter=error", "memory", "size=32M", "error=EIO", "error-pwrite-rate=10%",
                            "error-zero-rate=10%", name="wflaky")
        summary, _ = self.transfer(self.qemu_nbd(src), flaky)
        self.assertTrue(summary["verified"])
        self.same(src, "qcow2", flaky.replace("nbd+unix:///?socket=", "nbd:unix:"))
        broken = self.nbdkit("--filter=error", "memory", "size=32M", "error=EIO", "error-pwrite-rate=100%", name="wbroken")
        r = self.transfer(self.qemu_nbd(src, name="src2"), broken, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"writing \d+ bytes at offset \d+ failed 5 times: .*Input/output error")
        self.assertEqual(r.stdout, "")

    def test_many_requests_and_connections(self):
        src = self.image("m.qcow2", 128 << 20, [("0x1", 0, "40M"), ("0x2", "64M", "30M"), ("0x3", "127M", "1M")])
        for conns, reqs in (("1", "1"), ("4", "32")):
            out = self.path(f"m-{conns}.raw")
            summary, _ = self.transfer(self.qemu_nbd(src, name="m" + conns), out, "--connections", conns,
                                       "--requests", reqs, "--request-size", "2")
            self.same(src, "qcow2", out)
        # The checksum does not depend on how the copy was spread.
        self.assertTrue(summary["checksum"])

    def test_resume_from_checkpoint_after_a_crash(self):
        raw = self.path("big.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(24 << 20))
        checkpoint = self.path("copy.checkpoint")
        slow = self.nbdkit("--filter=delay", "file", raw, "rdelay=300ms", name="slowsrc")
        p = subprocess.Popen([TRANSFER, "--checkpoint", checkpoint, "--requests", "2", "--connections", "1", slow,
                              self.path("big.out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.0)
        p.kill()  # a crash: no chance to clean up
        p.wait()
        self.assertTrue(os.path.exists(checkpoint))
        recorded = [l for l in open(checkpoint).read().splitlines() if l.startswith("item ")]
        self.assertTrue(0 < len(recorded) < 24, recorded)
        # The server goes away too, and comes back (fast) for the second try.
        self.servers.pop().stop()
        fast = self.nbdkit("file", raw, name="fastsrc")
        # The checkpoint names the copy; the same destination with another source URI is still this copy.
        summary, _ = self.transfer(fast, self.path("big.out"), "--checkpoint", checkpoint, "--connections", "1")
        self.assertLess(summary["bytes_read"], 24 << 20)  # it went on, it did not start over
        self.assertTrue(summary["verified"])                # verification covers the earlier part too
        self.same(raw, "raw", self.path("big.out"))
        self.assertFalse(os.path.exists(checkpoint))         # a finished copy removes it
        # A checkpoint of another copy is refused, not mixed in.
        with open(checkpoint, "w") as f:
            f.write("mtv-transfer checkpoint 1 size=1 request=1 extents=allocation destination=x\n")
        r = self.transfer(fast, self.path("big.out"), "--checkpoint", checkpoint, check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("another copy", r.stderr)

    def test_kept_checkpoint_of_a_complete_copy_resumes_without_copying(self):
        # mtvd removes the checkpoint only once it has stored the disk as
        # done: killed in between, the next run finds the copy complete.
        raw = self.path("kc.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(8 << 20))
        checkpoint = self.path("kc.checkpoint")
        src = self.nbdkit("file", raw, name="kcsrc")
        first, _ = self.transfer(src, self.path("kc.out"), "--checkpoint", checkpoint, "--keep-checkpoint")
        self.assertTrue(first["verified"])
        self.assertTrue(os.path.exists(checkpoint))
        again, _ = self.transfer(src, self.path("kc.out"), "--checkpoint", checkpoint, "--keep-checkpoint")
        self.assertEqual(again["bytes_read"], 0)        # nothing copied again
        self.assertTrue(again["verified"])              # and still checked against the source
        self.assertEqual(again["checksum"], first["checksum"])
        self.same(raw, "raw", self.path("kc.out"))

    def test_rate_limited_copy_keeps_its_checkpoint_current(self):
        # Under --max-rate the reads in flight are finished while the next one
        # waits for its turn, so a crash loses little of what was copied.
        raw = self.path("rl.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(32 << 20))
        checkpoint = self.path("rl.checkpoint")
        src = self.nbdkit("file", raw, name="rlsrc")
        p = subprocess.Popen([TRANSFER, "--checkpoint", checkpoint, "--max-rate", str(4 << 20),
                              "--connections", "1", src, self.path("rl.out")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(3.5)
        p.kill()
        p.wait()
        recorded = [l for l in open(checkpoint).read().splitlines() if l.startswith("item ")]
        # ~3.5 s at 4 MiB/s is ~14 one-MiB items; synced at least each second.
        self.assertGreaterEqual(len(recorded), 6, recorded)
        summary, _ = self.transfer(src, self.path("rl.out"), "--checkpoint", checkpoint)
        self.assertLessEqual(summary["bytes_read"], (32 - 6) << 20)
        self.same(raw, "raw", self.path("rl.out"))

    def test_a_source_that_stops_answering_ends_the_copy(self):
        # The server holds every read for an hour (nbdkit's delay filter): the
        # copy gives up after the stall timeout, saying so, with what it had
        # copied in the checkpoint.
        raw = self.path("st.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(8 << 20))
        checkpoint = self.path("st.checkpoint")
        hung = self.nbdkit("--filter=delay", "file", raw, "rdelay=3600", name="hung")
        started = time.monotonic()
        r = self.transfer(hung, self.path("st.out"), "--stall-timeout", "2", "--checkpoint", checkpoint, check=False)
        self.assertLess(time.monotonic() - started, 30)
        self.assertEqual(r.returncode, 3)   # a stall, told apart from other failures
        self.assertRegex(r.stderr, r"mtv-transfer: no request finished for 2 seconds at \d+ of 8388608 bytes: "
                                   r"the source or the destination stopped answering")
        self.assertTrue(os.path.exists(checkpoint))

    def test_resume_into_an_nbd_destination_that_takes_less(self):
        # The destination comes back after a crash with a smaller maximum block
        # size: the runs written before are read back in pieces it takes.
        raw = self.path("r.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(16 << 20))
        out = self.path("r.out")
        with open(out, "wb") as f:
            f.truncate(16 << 20)
        checkpoint = self.path("r.checkpoint")
        slow = self.nbdkit("--filter=delay", "file", raw, "rdelay=300ms", name="rslow")
        dst = self.nbdkit("file", out, name="rdst")
        p = subprocess.Popen([TRANSFER, "--checkpoint", checkpoint, "--requests", "2", "--connections", "1", slow, dst],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.0)
        p.kill()
        p.wait()
        recorded = [l for l in open(checkpoint).read().splitlines() if l.startswith("item ")]
        self.assertTrue(0 < len(recorded) < 16, recorded)
        for s in self.servers[-2:]:
            s.stop()
        fast = self.nbdkit("file", raw, name="rfast")
        again = self.nbdkit("--filter=blocksize-policy", "file", out, "blocksize-error-policy=error",
                            "blocksize-maximum=128K", name="rdst")
        self.assertEqual(again, dst)   # the same URI: the checkpoint's copy
        summary, _ = self.transfer(fast, again, "--checkpoint", checkpoint, "--connections", "1")
        self.assertTrue(summary["verified"])
        self.assertLess(summary["bytes_read"], 16 << 20)
        self.same(raw, "raw", out)

    def test_server_killed_mid_copy_then_resume(self):
        raw = self.path("k.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(24 << 20))
        checkpoint = self.path("k.checkpoint")
        slow = self.nbdkit("--filter=delay", "file", raw, "rdelay=300ms", name="ksrc")
        p = subprocess.Popen([TRANSFER, "--checkpoint", checkpoint, "--requests", "2", "--connections", "1", slow,
                              self.path("k.out")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(2.0)
        server = self.servers.pop()
        server.proc.kill()  # the source goes away mid-copy
        server.proc.wait()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 1, err)      # retried, then failed cleanly
        self.assertEqual(out, "")
        self.assertTrue(os.path.exists(checkpoint))  # with what it had copied recorded
        again = self.nbdkit("file", raw, name="ksrc2")
        summary, _ = self.transfer(again, self.path("k.out"), "--checkpoint", checkpoint)
        self.assertLess(summary["bytes_read"], 24 << 20)
        self.same(raw, "raw", self.path("k.out"))

    def test_block_devices_512_and_4k_sectors(self):
        raw = self.path("dev-src.raw")
        with open(raw, "wb") as f:
            f.truncate((6 << 20) + 1536)          # odd size: not a multiple of 4 KiB
            f.seek(0)
            f.write(os.urandom(1 << 20))
            f.seek(4 << 20)
            f.write(os.urandom(5000))
            f.seek((6 << 20) + 1000)
            f.write(os.urandom(536))
        for sector in (512, 4096):
            with self.subTest(sector=sector):
                backing = self.path(f"dev-{sector}.img")
                with open(backing, "wb") as f:
                    f.write(b"\xff" * (8 << 20))    # old contents that must not survive where the source is zero
                dev = subprocess.run(["losetup", "-f", "--show", "-b", str(sector), backing], check=True,
                                     capture_output=True, text=True).stdout.strip()
                try:
                    summary, _ = self.transfer(self.qemu_nbd(raw, fmt="raw", name=f"dev{sector}"), dev)
                    self.assertTrue(summary["verified"])
                    with open(dev, "rb") as d, open(raw, "rb") as s:
                        want = s.read()
                        self.assertEqual(d.read(len(want)), want)
                finally:
                    subprocess.run(["losetup", "-d", dev], check=False)
        # A device smaller than the source is refused before anything is written.
        small = self.path("small.img")
        with open(small, "wb") as f:
            f.truncate(1 << 20)
        dev = subprocess.run(["losetup", "-f", "--show", small], check=True, capture_output=True, text=True).stdout.strip()
        try:
            r = self.transfer(self.qemu_nbd(raw, fmt="raw", name="devsmall"), dev, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("less than the source", r.stderr)
        finally:
            subprocess.run(["losetup", "-d", dev], check=False)

    def tcp_server(self, *args):
        import socket
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        proc = subprocess.Popen(["nbdkit", "-f", "-i", "127.0.0.1", "-p", str(port), *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("nbdkit did not listen")
                time.sleep(0.05)
        self.addCleanup(lambda: (proc.terminate(), proc.wait()))
        return port

    def test_tcp_and_tls_sources(self):
        raw = self.path("net.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(3 << 20))
        port = self.tcp_server("file", raw)
        self.transfer(f"nbd://127.0.0.1:{port}/", self.path("tcp.out"))
        self.same(raw, "raw", self.path("tcp.out"))
        # TLS with a pre-shared key: the server refuses anything else.
        psk = self.path("keys.psk")
        with open(psk, "w") as f:
            f.write("alice:" + os.urandom(32).hex() + "\n")
        port = self.tcp_server("--tls=require", f"--tls-psk={psk}", "file", raw)
        self.transfer(f"nbds://alice@127.0.0.1:{port}/?tls-psk-file={psk}", self.path("tls.out"))
        self.same(raw, "raw", self.path("tls.out"))
        r = self.transfer(f"nbd://127.0.0.1:{port}/", self.path("plain.out"), check=False)
        self.assertEqual(r.returncode, 1)

    def test_http_upload(self):
        from upload_receiver import Receiver
        src = self.image("up.qcow2", 64 << 20, [("0x5", "1M", "3M"), ("0x6", "40M", "1M")])
        recv = Receiver(self.path("received.raw"))
        try:
            token = self.path("token")
            with open(token, "w") as f:
                f.write("secret-token\n")
            summary, progress = self.transfer(self.qemu_nbd(src), recv.url, "--token-file", token)
            self.same(src, "qcow2", self.path("received.raw"))
            self.assertEqual(summary["bytes_read"], 4 << 20)
            self.assertLess(recv.wire_bytes, 6 << 20)      # 60 MiB of holes cost almost nothing
            path, headers = recv.requests[-1]
            self.assertEqual(path, "/v1beta1/upload")
            self.assertEqual(headers["Authorization"], "Bearer secret-token")
            # The token never appears on the command line: a wrong one is refused by the receiver.
            with open(token, "w") as f:
                f.write("wrong")
            r = self.transfer(self.qemu_nbd(src, name="up2"), recv.url, "--token-file", token, check=False)
            self.assertEqual(r.returncode, 1)
            self.assertIn("HTTP status 401", r.stderr)
            # Also from a descriptor.
            rfd, wfd = os.pipe()
            os.write(wfd, b"secret-token")
            os.close(wfd)
            r = subprocess.run([TRANSFER, "--token-fd", str(rfd), self.qemu_nbd(src, name="up3"), recv.url],
                               pass_fds=(rfd,), capture_output=True, text=True)
            os.close(rfd)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.same(src, "qcow2", self.path("received.raw"))
        finally:
            recv.stop()

    def test_sigterm_stops_promptly(self):
        raw = self.path("slow.raw")
        with open(raw, "wb") as f:
            f.write(os.urandom(32 << 20))
        src = self.nbdkit("--filter=delay", "file", raw, "rdelay=500ms", name="slow")
        p = subprocess.Popen([TRANSFER, "--request-size", "1", "--requests", "2", src, self.path("slow.out")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.2)
        start = time.monotonic()
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=10)
        self.assertLess(time.monotonic() - start, 3)
        self.assertEqual(p.returncode, 3, err)
        self.assertIn("cancelled", err)
        self.assertEqual(out, "")


if __name__ == "__main__":
    unittest.main(verbosity=2)
