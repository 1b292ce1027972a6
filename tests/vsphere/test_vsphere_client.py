"""mtvd's vSphere client (daemon/providers/vsphere) against govmomi's vcsim,
through tests/vsphere/vsphere-tool: the ServiceContent, login and logout, the
server's thumbprint, and the errors a user must be able to act on (a wrong
password, an untrusted certificate, nothing listening) without the password
in any of them."""
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import unittest

from vcsim import Vcsim

BUILD_ROOT = os.environ.get("MTV_BUILD_ROOT") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
TOOL = os.path.join(BUILD_ROOT, "tests", "vsphere-tool")


class VsphereClient(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="mtv-vsphere-")
        cls.sim = Vcsim(BUILD_ROOT, tmp=cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.sim.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def about(self, password=None, url=None, *flags):
        pw = os.path.join(self.tmp, "password")
        with open(pw, "w") as f:
            f.write((password if password is not None else self.sim.password) + "\n")
        os.chmod(pw, 0o600)
        return subprocess.run([TOOL, "about", url or self.sim.url, self.sim.user, pw] + list(flags),
                              capture_output=True, text=True, timeout=60)

    def test_login_with_the_ca_shows_the_service_and_thumbprint(self):
        r = self.about(None, None, "--cacert", self.sim.cafile)
        self.assertEqual(r.returncode, 0, r.stderr)
        about = json.loads(r.stdout)
        self.assertEqual(about["apiType"], "VirtualCenter")
        self.assertRegex(about["apiVersion"], r"^\d+\.\d+")
        self.assertEqual(about["rootFolder"], "group-d1")
        self.assertTrue(about["instanceUuid"])
        # The thumbprint is the SHA-1 of the certificate, as vSphere shows it.
        with open(self.sim.cafile) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        import hashlib
        want = ":".join(f"{b:02X}" for b in hashlib.sha1(der).digest())
        self.assertEqual(about["thumbprint"], want)

    def test_insecure_login(self):
        r = self.about(None, None, "--insecure")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(json.loads(r.stdout)["thumbprint"])

    def test_wrong_password_is_named_and_not_shown(self):
        r = self.about("not-the-password-42", None, "--insecure")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"logging in as {self.sim.user}: InvalidLogin: Login failure", r.stderr)
        self.assertNotIn("not-the-password-42", r.stderr + r.stdout)

    def test_untrusted_certificate(self):
        # The simulator's certificate is its own: without its CA the
        # connection is refused, with curl's reason.
        r = self.about(None, None)
        self.assertEqual(r.returncode, 1)
        self.assertIn("certificate", r.stderr.lower())
        self.assertNotIn(self.sim.password, r.stderr)

    def test_nothing_listening(self):
        r = self.about(None, "https://127.0.0.1:9/sdk", "--insecure")
        self.assertEqual(r.returncode, 1)
        self.assertIn("https://127.0.0.1:9/sdk", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
