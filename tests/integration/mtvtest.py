"""Test harness: a private system-style D-Bus, the real polkitd on it, and mtvd.

Used by the integration tests and by tools/sandbox (the README's demo). Needs
root: it installs mtv's polkit policy and rules for as long as it runs (and
removes them after), and creates the "mtv" group and two test users.
"""
import contextlib
import grp
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

SOURCE_ROOT = os.environ.get("MTV_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_ROOT = os.environ.get("MTV_BUILD_ROOT") or os.path.join(SOURCE_ROOT, "build")
MTVD = os.environ.get("MTVD") or os.path.join(BUILD_ROOT, "daemon", "mtvd")
MTVCTL = os.environ.get("MTVCTL") or os.path.join(BUILD_ROOT, "client", "mtvctl")

BUS_NAME = "org.mtvd.Mtv1"
ROOT_PATH = "/org/mtvd/Mtv1"
POLICY_SRC = os.path.join(SOURCE_ROOT, "polkit", "org.mtvd.mtv1.policy")
RULES_SRC = os.path.join(SOURCE_ROOT, "polkit", "50-org.mtvd.mtv1.rules")
POLICY_DST = "/usr/share/polkit-1/actions/org.mtvd.mtv1.policy"
RULES_DST = "/etc/polkit-1/rules.d/50-org.mtvd.mtv1.rules"
POLKITD = "/usr/lib/polkit-1/polkitd"

MEMBER = "mtvtest-member"
OUTSIDER = "mtvtest-outsider"

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={socket}</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <include>{mtv_conf}</include>
</busconfig>
"""


def log(*args):
    print(*args, file=sys.stderr, flush=True)


class CallError(Exception):
    """A D-Bus error reply: .name is e.g. org.mtvd.Mtv1.Error.Invalid."""

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def _ensure_group(name):
    try:
        grp.getgrnam(name)
        return False
    except KeyError:
        subprocess.run(["groupadd", "--system", name], check=True)
        return True


def _ensure_user(name, groups):
    try:
        pwd.getpwnam(name)
        created = False
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        name], check=True)
        created = True
    subprocess.run(["usermod", "-G", ",".join(groups), name], check=True)
    return created


class Sandbox:
    """Starts dbus-daemon, polkitd and mtvd; stop() undoes everything."""

    def __init__(self, state_dir=None):
        self.tmp = tempfile.mkdtemp(prefix="mtvtest-")
        # Other users (the test users) must reach the bus socket.
        os.chmod(self.tmp, 0o755)
        self.state_dir = state_dir or os.path.join(self.tmp, "state")
        self.socket = os.path.join(self.tmp, "system_bus_socket")
        self.address = "unix:path=" + self.socket
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address,
                        LC_ALL="C.UTF-8")
        self.env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        self.bus_pid = None
        self.polkitd = None
        self.mtvd = None
        self.mtvd_log = None
        self.created_group = False
        self.created_users = []
        self.installed = []
        self.conn = None

    # ---- set-up -------------------------------------------------------------------
    def start(self, with_mtvd=True):
        try:
            self._install_policy()
            self._users()
            self._start_bus()
            self._start_polkitd()
            if with_mtvd:
                self.start_mtvd()
        except BaseException:
            self.stop()
            raise
        return self

    def _install_policy(self):
        for src, dst in ((POLICY_SRC, POLICY_DST), (RULES_SRC, RULES_DST)):
            if os.path.exists(dst):
                with open(src, "rb") as a, open(dst, "rb") as b:
                    if a.read() == b.read():
                        continue
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)
            os.chmod(dst, 0o644)
            self.installed.append(dst)

    def _users(self):
        self.created_group = _ensure_group("mtv")
        if _ensure_user(MEMBER, ["mtv"]):
            self.created_users.append(MEMBER)
        if _ensure_user(OUTSIDER, []):
            self.created_users.append(OUTSIDER)

    def _start_bus(self):
        conf = os.path.join(self.tmp, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONFIG.format(socket=self.socket,
                                      mtv_conf=os.path.join(SOURCE_ROOT, "dbus", "org.mtvd.Mtv1.conf")))
        out = subprocess.run(["dbus-daemon", "--config-file=" + conf, "--print-address=1",
                              "--print-pid=1", "--fork"], check=True, capture_output=True,
                             text=True).stdout.split()
        self.bus_pid = int(out[1])
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address,
            Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
            None, None)

    def _start_polkitd(self):
        self.polkitd = subprocess.Popen([POLKITD, "--no-debug"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_for_name("org.freedesktop.PolicyKit1", self.polkitd)

    def start_mtvd(self, extra_args=(), wrapper=(), env=None):
        """@env: variables for mtvd; with STATE_DIRECTORY among them no
        --state-dir is given (mtvd finds it as under systemd)."""
        if self.mtvd_log:
            self.mtvd_log.close()
        self.mtvd_log = open(os.path.join(self.tmp, "mtvd.log"), "ab")
        # The rules of the source tree, and a drop-in directory of the sandbox's own.
        self.rules_dropin_dir = os.path.join(self.tmp, "rules.d")
        os.makedirs(self.rules_dropin_dir, exist_ok=True)
        env = dict(self.env, **(env or {}))
        state = [] if "STATE_DIRECTORY" in env else ["--state-dir", self.state_dir]
        self.mtvd = subprocess.Popen(list(wrapper) + [MTVD] + state +
                                     ["--rules-dir", os.path.join(SOURCE_ROOT, "rules"),
                                      "--rules-dropin-dir", self.rules_dropin_dir] + list(extra_args),
                                     env=env, stdout=self.mtvd_log, stderr=subprocess.STDOUT)
        self.wait_for_name(BUS_NAME, self.mtvd, timeout=60 if wrapper else 15)
        return self.mtvd

    def wait_for_name(self, name, proc, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before owning {name}"
                                   + self._log_tail())
            reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        GLib.Variant("(s)", (name,)), None, 0, -1, None)
            if reply.unpack()[0]:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not appear on the bus" + self._log_tail())

    def _log_tail(self):
        if self.mtvd_log is None:
            return ""
        with open(self.mtvd_log.name, "rb") as f:
            return "\n--- mtvd log ---\n" + f.read().decode(errors="replace")[-3000:]

    # ---- mtvd control ---------------------------------------------------------
    def kill_mtvd(self, sig=signal.SIGKILL):
        self.mtvd.send_signal(sig)
        code = self.mtvd.wait(timeout=120)
        self.mtvd = None
        # Wait until the bus has dropped the name, so a new mtvd can own it.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.name_has_owner(BUS_NAME):
            time.sleep(0.05)
        return code

    def name_has_owner(self, name):
        reply = self.conn.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus",
                                    "org.freedesktop.DBus", "NameHasOwner",
                                    GLib.Variant("(s)", (name,)), None, 0, -1, None)
        return reply.unpack()[0]

    # ---- calls as root ----------------------------------------------------------
    def call(self, path, interface, method, signature=None, args=None, reply_type=None):
        params = GLib.Variant(signature, args) if signature else None
        try:
            reply = self.conn.call_sync(BUS_NAME, path, interface, method, params,
                                        GLib.VariantType(reply_type) if reply_type else None,
                                        Gio.DBusCallFlags.NONE, 30000, None)
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            Gio.DBusError.strip_remote_error(e)
            raise CallError(name, e.message) from None
        return reply.unpack() if reply is not None else None

    def create(self, method, name, spec):
        return self.call(ROOT_PATH, "org.mtvd.Mtv1.Manager", method, "(sa{sv}a{sv})", (name, spec, {}))[0]

    def export(self, path):
        return json.loads(self.call(path, "org.mtvd.Mtv1.Resource", "Export", "(a{sv})", ({},))[0])

    def objects(self):
        """Every object with every property, as plain Python values."""
        return self.call(ROOT_PATH, "org.freedesktop.DBus.ObjectManager", "GetManagedObjects")[0]

    # ---- other users ------------------------------------------------------------
    def run_as(self, user, argv, input=None):
        """Runs argv as @user (None: root) with the sandbox's bus in the environment."""
        if user is not None:
            argv = ["setpriv", "--reuid", user, "--regid", user, "--init-groups", "--"] + argv
        return subprocess.run(argv, env=self.env, input=input, capture_output=True, text=True,
                              timeout=120)

    def gdbus_call(self, user, path, method, *args):
        """`gdbus call` as @user. Returns (ok, error name or None, output)."""
        r = self.run_as(user, ["gdbus", "call", "--system", "--dest", BUS_NAME, "--object-path", path,
                               "--method", method] + list(args))
        if r.returncode == 0:
            return True, None, r.stdout
        err = r.stderr.strip()
        name = None
        if "GDBus.Error:" in err:
            name = err.split("GDBus.Error:", 1)[1].split(":", 1)[0]
        return False, name, err

    def mtvctl(self, *args, user=None, input=None):
        return self.run_as(user, [MTVCTL] + list(args), input=input)

    # ---- tear-down ---------------------------------------------------------------
    def stop(self):
        if self.mtvd is not None and self.mtvd.poll() is None:
            self.mtvd.send_signal(signal.SIGTERM)
            try:
                self.mtvd.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.mtvd.kill()
                self.mtvd.wait()
        criticals = []
        if self.mtvd_log:
            self.mtvd_log.close()
            with open(self.mtvd_log.name, "rb") as f:
                criticals = [line for line in f.read().decode(errors="replace").splitlines()
                             if "-CRITICAL **" in line]
        if self.polkitd is not None:
            self.polkitd.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.polkitd.wait(timeout=10)
        if self.bus_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.bus_pid, signal.SIGTERM)
        for path in self.installed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        for user in self.created_users:
            subprocess.run(["userdel", user], check=False, capture_output=True)
        if self.created_group:
            subprocess.run(["groupdel", "mtv"], check=False, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
        # A GLib-CRITICAL is a bug in mtvd (a broken invariant), whatever the test saw.
        if criticals:
            raise AssertionError("mtvd logged criticals:\n" + "\n".join(criticals[:10]))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def v(signature, value):
    """A GLib.Variant for a{sv} values."""
    return GLib.Variant(signature, value)


def object_path(collection, name):
    """The path mtvd gives an item: names are escaped as GLib does ('-' is _2d)."""
    return f"{ROOT_PATH}/{collection}/{Gio.dbus_escape_object_path(name)}"
