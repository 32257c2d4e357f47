# Commands: results, errors, idempotency by id (kept in flash across reboots), persisted settings.
import json

from sensorfleet.commands import Commands, save_settings

from mptest import eq


class FakeDevice:
    def __init__(self):
        self.cfg = {"interval_s": 10, "batch_max": 20}
        self.boot = 3
        self.reboots = 0
        self.flushes = 0
        self.applied = []
        self.ops = []

    def uptime_ms(self):
        return 12345

    def log(self, m):
        pass

    def setting(self, key):
        return self.cfg[key]

    def set(self, new):
        self.applied.append(new)
        self.cfg.update(new)

    def command_done(self, op):
        self.ops.append(op)

    def flush(self):
        self.flushes += 1
        return 7

    def reboot(self):
        self.reboots += 1

    def maintenance(self):
        self.reboots += 1

    def ota(self, args):
        if args.get("v") == "bad":
            raise ValueError("ota needs v")
        return {"ota": "downloading"}


def test_the_fake_device_has_the_real_ones_interface():
    from sensorfleet.app import Device

    def public(cls):
        return sorted(n for n in dir(cls) if not n.startswith("_"))

    eq(public(FakeDevice), public(Device))


def run(cmds, obj):
    return json.loads(cmds.handle(json.dumps(obj).encode()))


def test_ops_and_results():
    dev = FakeDevice()
    c = Commands(dev, "cmds1.json")
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
    eq((dev.reboots, dev.flushes), (1, 1))


def test_errors():
    c = Commands(FakeDevice(), "cmds2.json")
    eq(
        run(c, {"id": "x", "op": "dance"})["error"],
        'unknown op "dance" (ping, set, flush, reboot, maint, ota)',
    )
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
    dev = FakeDevice()
    c = Commands(dev, "cmds3.json")
    first = c.handle(b'{"id":"r1","op":"reboot"}')
    again = c.handle(b'{"id":"r1","op":"reboot"}')
    eq(again, first)
    eq(dev.reboots, 1)
    s1 = c.handle(b'{"id":"s","op":"set","args":{"interval_s":2}}')
    s2 = c.handle(b'{"id":"s","op":"set","args":{"interval_s":3}}')  # same id: not executed
    eq(s1, s2)
    eq(dev.cfg["interval_s"], 2)
    # after a reboot the memory comes back from flash
    dev2 = FakeDevice()
    c2 = Commands(dev2, "cmds3.json")
    eq(c2.handle(b'{"id":"r1","op":"reboot"}'), first)
    eq(dev2.reboots, 0)


def test_memory_is_bounded():
    c = Commands(FakeDevice(), "cmds4.json")
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


def test_ota_op_passes_its_args_and_turns_a_refusal_into_an_error():
    c = Commands(FakeDevice(), "cmds6.json")
    eq(
        run(c, {"id": "o1", "op": "ota", "args": {"v": "1.2"}}),
        {"id": "o1", "ok": True, "result": {"ota": "downloading"}},
    )
    eq(
        run(c, {"id": "o2", "op": "ota", "args": {"v": "bad"}}),
        {"id": "o2", "ok": False, "error": "ota needs v"},
    )
