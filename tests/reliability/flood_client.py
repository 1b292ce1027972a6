"""A client that floods mtvd (run by test_flood.py, as whichever user the
test picks): COUNT calls of KIND with at most IN_FLIGHT unanswered, then a
JSON summary on stdout: how many replies of each kind (an error's name, or
"ok"), the slowest reply in seconds, the whole run's seconds.

    flood_client.py KIND COUNT IN_FLIGHT [--exit-early]

KIND: create-delete (CreateHook then Delete of the same name: COUNT calls in
all), create (CreateHook only), bad-args (calls with the wrong signature).
With --exit-early the client sends everything and exits without waiting."""
import json
import os
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = "org.mtvd.Mtv1"
ROOT = "/org/mtvd/Mtv1"


def main():
    kind, count, in_flight = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    exit_early = "--exit-early" in sys.argv
    conn = Gio.DBusConnection.new_for_address_sync(
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"],
        Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    tag = f"fl{os.getpid()}"

    def calls():
        if kind == "create-delete":
            for i in range(count // 2):
                yield ROOT, "org.mtvd.Mtv1.Manager", "CreateHook", GLib.Variant(
                    "(sa{sv}a{sv})", (f"{tag}-{i}", {"command": GLib.Variant("s", "true")}, {}))
                yield (f"{ROOT}/hooks/{tag}_2d{i}", "org.mtvd.Mtv1.Resource", "Delete",
                       GLib.Variant("(a{sv})", ({},)))
        elif kind == "create":
            for i in range(count):
                yield ROOT, "org.mtvd.Mtv1.Manager", "CreateHook", GLib.Variant(
                    "(sa{sv}a{sv})", (f"{tag}-{i}", {"command": GLib.Variant("s", "true")}, {}))
        elif kind == "bad-args":
            for i in range(count):
                yield ROOT, "org.mtvd.Mtv1.Manager", "CreateHook", GLib.Variant("(i)", (i,))
        else:
            raise SystemExit(f"unknown kind {kind}")

    replies = {}
    state = {"pending": 0, "slowest": 0.0}
    loop = GLib.MainLoop()
    todo = calls()
    # A Delete must follow its Create's answer: creates and deletes go in
    # pairs, the delete sent from the create's reply.

    def done(name, started):
        replies[name] = replies.get(name, 0) + 1
        state["slowest"] = max(state["slowest"], time.monotonic() - started)
        state["pending"] -= 1

    def on_reply(c, res, data):
        started, follow = data
        try:
            c.call_finish(res)
            name = "ok"
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e) or e.message
        done(name, started)
        if follow is not None:
            send(*follow)
        fill()

    def send(path, iface, method, args, follow=None):
        state["pending"] += 1
        conn.call(BUS_NAME, path, iface, method, args, None, Gio.DBusCallFlags.NONE, 120000, None, on_reply,
                  (time.monotonic(), follow))

    def fill():
        while state["pending"] < in_flight:
            try:
                call = next(todo)
            except StopIteration:
                if state["pending"] == 0:
                    loop.quit()
                return
            if kind == "create-delete":
                follow = next(todo)
                send(*call, follow=follow)
            else:
                send(*call)

    started = time.monotonic()
    if exit_early:
        for call in todo:
            conn.call(BUS_NAME, *call, None, Gio.DBusCallFlags.NONE, -1, None, None, None)
        conn.flush_sync(None)
        print(json.dumps({"sent": count}))
        os._exit(0)
    GLib.idle_add(lambda: fill() and False)
    loop.run()
    print(json.dumps({"replies": replies, "slowest": round(state["slowest"], 3),
                      "seconds": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()
