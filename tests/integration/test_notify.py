"""mtvd speaks systemd's notify protocol: READY=1 once it owns its name,
WATCHDOG=1 pings at half the watchdog interval, STOPPING=1 on SIGTERM."""
import os
import signal
import socket
import time
import unittest

from mtvtest import BUS_NAME, Sandbox


class Notify(unittest.TestCase):
    def test_ready_watchdog_stopping(self):
        sb = Sandbox().start(with_mtvd=False)
        try:
            path = os.path.join(sb.tmp, "notify.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            sock.settimeout(10)
            sb.env["NOTIFY_SOCKET"] = path
            sb.env["WATCHDOG_USEC"] = "200000"
            sb.start_mtvd()
            messages = []
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and sum("WATCHDOG=1" in m for m in messages) < 3:
                messages.append(sock.recv(4096).decode())
            self.assertTrue(messages[0].startswith("READY=1"), messages)
            self.assertTrue(sb.name_has_owner(BUS_NAME))
            self.assertGreaterEqual(sum("WATCHDOG=1" in m for m in messages), 3, messages)
            sb.mtvd.send_signal(signal.SIGTERM)
            while True:
                m = sock.recv(4096).decode()
                if "STOPPING=1" in m:
                    break
            self.assertEqual(sb.mtvd.wait(timeout=30), 0)
        finally:
            sb.env.pop("NOTIFY_SOCKET", None)
            sb.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
