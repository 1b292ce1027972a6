"""mtvd shuts down valgrind-clean: after creates, updates, refused calls,
exports and deletes, SIGTERM gives exit 0, no memory errors and no
definitely-lost blocks."""
import os
import re
import signal
import unittest

from mtvtest import OUTSIDER, ROOT_PATH, Sandbox, object_path, v

GLIB_SUPP = "/usr/share/glib-2.0/valgrind/glib.supp"


class Valgrind(unittest.TestCase):
    def test_clean_shutdown(self):
        sb = Sandbox().start(with_mtvd=False)
        try:
            log = os.path.join(sb.tmp, "valgrind.log")
            wrapper = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite",
                       "--show-leak-kinds=definite", "--error-exitcode=99", "--log-file=" + log]
            if os.path.exists(GLIB_SUPP):
                wrapper.append("--suppressions=" + GLIB_SUPP)
            sb.start_mtvd(wrapper=wrapper)
            S = lambda x: v("s", x)  # noqa: E731
            sb.create("CreateProvider", "src", {"type": S("ova"), "url": S("file:///srv"),
                                                "credentials": v("a{ss}", {"user": "u", "password": "p"})})
            sb.create("CreateProvider", "dst", {"type": S("local"), "url": S("file://" + os.path.join(sb.tmp, "target"))})
            sb.create("CreateNetworkMap", "net", {"sourceProvider": S("src"), "targetProvider": S("dst"),
                                                  "pairs": v("aa{sv}", [])})
            sb.create("CreateStorageMap", "st", {"sourceProvider": S("src"), "targetProvider": S("dst"),
                                                 "pairs": v("aa{sv}", [])})
            sb.create("CreateHook", "hk", {"image": S("img")})
            sb.create("CreatePlan", "pl", {"sourceProvider": S("src"), "targetProvider": S("dst"),
                                           "networkMap": S("net"), "storageMap": S("st"),
                                           "vms": v("aa{sv}", [{"name": S("a"), "hooks": v("aa{sv}", [
                                               {"hook": S("hk"), "step": S("PostHook")}])}])})
            with self.assertRaises(Exception):
                sb.create("CreatePlan", "bad", {"vms": v("aa{sv}", [])})
            sb.call(object_path("plans", "pl"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                    ({"targetNamespace": S("prod")}, {"unset": v("as", ["description"])}))
            sb.call(object_path("providers", "src"), "org.mtvd.Mtv1.Resource", "Update", "(a{sv}a{sv})",
                    ({"credentials": v("a{ss}", {"password": ""})}, {}))
            sb.export(object_path("plans", "pl"))
            ok, err, out = sb.gdbus_call(OUTSIDER, ROOT_PATH, "org.mtvd.Mtv1.Manager.CreateHook", "x",
                                         "{'image': <'i'>}", "{}")
            self.assertEqual(err, "org.mtvd.Mtv1.Error.NotAuthorized", out)
            sb.call(object_path("plans", "pl"), "org.mtvd.Mtv1.Resource", "Delete", "(a{sv})", ({},))
            # A whole migration, so its objects, children and state are shut down too.
            from ovabuilder import make_ova
            make_ova(os.path.join(sb.tmp, "ovas"), "vm1", nics=())
            sb.create("CreateProvider", "ova", {"type": S("ova"), "url": S("file://" + os.path.join(sb.tmp, "ovas"))})
            sb.create("CreateNetworkMap", "n2", {"sourceProvider": S("ova"), "targetProvider": S("dst"),
                                                 "pairs": v("aa{sv}", [])})
            sb.create("CreateStorageMap", "s2", {"sourceProvider": S("ova"), "targetProvider": S("dst"), "pairs": v(
                "aa{sv}", [{"source": v("a{sv}", {"name": S("vm1/vm1-disk1.vmdk")}),
                            "destination": v("a{sv}", {"storageClass": S("standard")})}])})
            sb.create("CreatePlan", "p2", {"sourceProvider": S("ova"), "targetProvider": S("dst"), "networkMap": S("n2"),
                                           "storageMap": S("s2"), "vms": v("aa{sv}", [{"name": S("vm1")}]),
                                           "skipGuestConversion": v("b", True)})
            import time
            deadline = time.monotonic() + 120
            while sb.export(object_path("plans", "p2"))["status"]["phase"] != "Ready":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.2)
            sb.call(object_path("plans", "p2"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
            while sb.export(object_path("plans", "p2"))["status"]["phase"] == "Executing":
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.2)
            self.assertEqual(sb.export(object_path("plans", "p2"))["status"]["phase"], "Succeeded")
            # The same VM into a cluster (the API stand-in): REST calls in worker
            # threads, a provider polling, a watch, then shutdown while it polls.
            import kube_standin
            server, url = kube_standin.start(sb.tmp)
            try:
                sb.create("CreateProvider", "kv", {"type": S("openshift"), "url": S(url),
                                                   "settings": v("a{ss}", {"refreshInterval": "1"}),
                                                   "credentials": v("a{ss}", {"token": "admin-token"})})
                sb.create("CreateNetworkMap", "n3", {"sourceProvider": S("ova"), "targetProvider": S("kv"),
                                                     "pairs": v("aa{sv}", [])})
                sb.create("CreateStorageMap", "s3", {"sourceProvider": S("ova"), "targetProvider": S("kv"), "pairs": v(
                    "aa{sv}", [{"source": v("a{sv}", {"name": S("vm1/vm1-disk1.vmdk")}),
                                "destination": v("a{sv}", {"storageClass": S("standard")})}])})
                sb.create("CreatePlan", "p3", {"sourceProvider": S("ova"), "targetProvider": S("kv"),
                                               "networkMap": S("n3"), "storageMap": S("s3"),
                                               "targetNamespace": S("mtv-test"),
                                               "vms": v("aa{sv}", [{"name": S("vm1")}]),
                                               "skipGuestConversion": v("b", True)})
                while sb.export(object_path("plans", "p3"))["status"]["phase"] != "Ready":
                    self.assertLess(time.monotonic(), deadline + 120)
                    time.sleep(0.3)
                sb.call(object_path("plans", "p3"), "org.mtvd.Mtv1.Plan", "Start", "(a{sv})", ({},))
                while sb.export(object_path("plans", "p3"))["status"]["phase"] == "Executing":
                    self.assertLess(time.monotonic(), deadline + 240)
                    time.sleep(0.3)
                self.assertEqual(sb.export(object_path("plans", "p3"))["status"]["phase"], "Succeeded")
                time.sleep(1.5)   # a poll is likely in flight at shutdown
            finally:
                sb.objects()
                code = sb.kill_mtvd(signal.SIGTERM)
                server.shutdown()
                server.server_close()
            with open(log) as f:
                text = f.read()
            self.assertEqual(code, 0, text[-4000:])
            self.assertRegex(text, r"ERROR SUMMARY: 0 errors")
            lost = re.search(r"definitely lost: ([\d,]+) bytes", text)
            if lost:
                self.assertEqual(lost.group(1), "0", text[-4000:])
        finally:
            sb.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
