"""The bus flood: thousands of calls, as root and as an outsider, bounded
and unbounded in flight, and clients that leave without waiting. Every call
is answered, nothing is left behind, mtvd keeps answering others meanwhile
and stays within its memory."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from mtvtest import OUTSIDER, ROOT_PATH, Sandbox  # noqa: E402

CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flood_client.py")


class Flood(unittest.TestCase):
    def setUp(self):
        self.sb = Sandbox().start()
        # The client runs as other users: it must be readable by them.
        os.chmod(os.path.dirname(CLIENT), 0o755)

    def tearDown(self):
        self.sb.stop()

    def flood(self, kind, count, in_flight, user=None, extra=()):
        r = self.sb.run_as(user, ["/usr/bin/python3", CLIENT, kind, str(count), str(in_flight)] + list(extra))
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def rss_kib(self):
        with open(f"/proc/{self.sb.mtvd.pid}/status") as f:
            return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])

    def hooks(self):
        return [p for p in self.sb.objects() if p.startswith(ROOT_PATH + "/hooks/")]

    def answers_quickly(self):
        started = time.monotonic()
        self.sb.objects()
        return time.monotonic() - started

    def test_four_thousand_creates_and_deletes(self):
        self.flood("create-delete", 200, 16)   # warm up: first allocations, polkit's caches
        rss = self.rss_kib()
        summary = self.flood("create-delete", 4000, 64)
        self.assertEqual(summary["replies"], {"ok": 4000}, summary)
        self.assertEqual(self.hooks(), [])
        grown = self.rss_kib() - rss
        if not os.environ.get("MTV_SANITIZED"):
            self.assertLess(grown, 32 * 1024, f"mtvd grew by {grown} KiB over 4,000 calls")
        print(f"\n4,000 create/delete calls: {summary['seconds']} s, slowest reply {summary['slowest']} s, "
              f"mtvd grew {grown} KiB", file=sys.stderr)

    def test_outsider_flood_is_refused_and_others_are_still_served(self):
        probes = []
        stop = threading.Event()

        def probe():
            while not stop.is_set():
                probes.append(self.answers_quickly())
                time.sleep(0.2)
        t = threading.Thread(target=probe)
        t.start()
        try:
            summary = self.flood("create", 4000, 64, user=OUTSIDER)
        finally:
            stop.set()
            t.join()
        self.assertEqual(summary["replies"], {"org.mtvd.Mtv1.Error.NotAuthorized": 4000}, summary)
        self.assertEqual(self.hooks(), [])
        self.assertLess(max(probes), 5.0, f"root waited {max(probes):.1f} s for an answer during the flood")

    def test_unbounded_flood_from_one_connection(self):
        # More unanswered calls than the bus lets one connection have: the bus
        # refuses the excess (LimitsExceeded), mtvd answers the rest.
        summary = self.flood("create", 2000, 2000)
        self.assertEqual(sum(summary["replies"].values()), 2000, summary)
        self.assertLessEqual(set(summary["replies"]), {"ok", "org.freedesktop.DBus.Error.LimitsExceeded"}, summary)
        self.assertEqual(len(self.hooks()), summary["replies"].get("ok", 0))
        self.assertLess(self.answers_quickly(), 5.0)
        print(f"\n2,000 calls at once from one connection: {summary}", file=sys.stderr)

    def test_bad_arguments_flood(self):
        summary = self.flood("bad-args", 4000, 64, user=OUTSIDER)
        self.assertEqual(list(summary["replies"]), ["org.freedesktop.DBus.Error.InvalidArgs"], summary)
        summary = self.flood("bad-args", 4000, 64)
        self.assertEqual(list(summary["replies"]), ["org.freedesktop.DBus.Error.InvalidArgs"], summary)
        self.assertEqual(self.hooks(), [])

    def test_clients_that_leave_without_waiting(self):
        # Calls whose callers are gone by the time polkit has answered: the
        # work is done or refused, the replies go nowhere, mtvd goes on.
        for user in (None, OUTSIDER):
            self.flood("create", 1000, 0, user=user, extra=["--exit-early"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            made = len(self.hooks())
            time.sleep(1)
            if len(self.hooks()) == made:
                break
        self.assertLessEqual(len(self.hooks()), 1000)
        self.assertIsNone(self.sb.mtvd.poll(), "mtvd exited")
        self.assertLess(self.answers_quickly(), 5.0)
        summary = self.flood("create-delete", 200, 16)
        self.assertEqual(summary["replies"], {"ok": 200}, summary)


if __name__ == "__main__":
    unittest.main(verbosity=2)
