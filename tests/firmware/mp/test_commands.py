# Commands: results, errors, idempotency by id (kept in flash across reboots), persisted settings.
import json

from sensorfleet.commands import Commands, save_settings

from mptest import eq


class FakeApp:
    def __init__(self):
        self.cfg = {"interval_s": 10, "batch_max": 20}
        self.boot = 3
        self.reboots = 0
        self.flushes = 0
        self.applied = []
        self.ops = []

        class Clk:
            def uptime_ms(self):
                return 12345

        self.clock = Clk()

    def log(self, m):
        pass

    def apply_settings(self, new):
        self.applied.append(new)
        self.cfg.update(new)

    def after_command(self, op):
        self.ops.append(op)

    def flush_now(self):
        self.flushes += 1
        return 7

    def request_reboot(self):
        self.reboots += 1


def run(cmds, obj):
    return json.loads(cmds.handle(json.dumps(obj).encode()))


def test_ops_and_results():
    app = FakeApp()
    c = Commands(app, "cmds1.json")
    eq(
        run(c, {"id": "p1", "op": "ping"}),
        {"id": "p1", "ok": True, "result": {"pong": True, "boot": 3, "uptime_s": 12}},
    )
    eq(
        run(c, {"id": "s1", "op": "set", "args": {"interval_s": 0.5, "batch_max": 5}}),
        {"id": "s1", "ok": True, "result": {"interval_s": 0.5, "batch_max": 5}},
    )
    eq(run(c, {"id": "f1", "op": "flush"}), {"id": "f1", "ok": True, "result": {"outbox": 7}})
    eq(run(c, {"id": 9, "op": "reboot"}), {"id": 9, "ok": True, "result": {"rebooting": True}})
    eq((app.reboots, app.flushes), (1, 1))


def test_errors():
    c = Commands(FakeApp(), "cmds2.json")
    eq(run(c, {"id": "x", "op": "dance"})["error"], 'unknown op "dance" (ping, set, flush, reboot, maint)')
    eq(
        run(c, {"id": "x2", "op": "set", "args": {"interval_s": 0}})["error"],
        "interval_s must be a number in [0.001, 86400]",
    )
    eq(run(c, {"id": "x3", "op": "set", "args": {"color": 1}})["ok"], False)
    eq(run(c, {"id": "x4", "op": "set", "args": {"batch_max": True}})["ok"], False)
    eq(run(c, {"id": "x5", "op": "set", "args": []})["ok"], False)
    eq(run(c, {"op": "ping"}), {"id": None, "ok": False, "error": "a command needs an id (string or number)"})
    eq(json.loads(c.handle(b"{{")), {"id": None, "ok": False, "error": "payload is not JSON"})
    eq(json.loads(c.handle(b"[1]"))["ok"], False)


def test_repeated_id_returns_remembered_result_without_running_again():
    app = FakeApp()
    c = Commands(app, "cmds3.json")
    first = c.handle(b'{"id":"r1","op":"reboot"}')
    again = c.handle(b'{"id":"r1","op":"reboot"}')
    eq(again, first)
    eq(app.reboots, 1)
    s1 = c.handle(b'{"id":"s","op":"set","args":{"interval_s":2}}')
    s2 = c.handle(b'{"id":"s","op":"set","args":{"interval_s":3}}')  # same id: not executed
    eq(s1, s2)
    eq(app.cfg["interval_s"], 2)
    # after a reboot the memory comes back from flash
    app2 = FakeApp()
    c2 = Commands(app2, "cmds3.json")
    eq(c2.handle(b'{"id":"r1","op":"reboot"}'), first)
    eq(app2.reboots, 0)


def test_memory_is_bounded():
    c = Commands(FakeApp(), "cmds4.json")
    for i in range(40):
        c.handle(('{"id":"c%d","op":"ping"}' % i).encode())
    eq(len(c.done), 16)
    eq(c.done[0][0], "c24")


def test_save_settings_keeps_other_keys():
    with open("cfg.json", "w") as f:
        f.write(json.dumps({"device_id": "d", "interval_s": 10, "extra": {"a": 1}}))
    save_settings("cfg.json", {"interval_s": 0.5})
    with open("cfg.json") as f:
        eq(json.load(f), {"device_id": "d", "interval_s": 0.5, "extra": {"a": 1}})
