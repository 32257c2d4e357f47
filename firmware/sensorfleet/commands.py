# Commands from <prefix>/<id>/cmd: {"id":"c1","op":"set","args":{"interval_s":30}}.
# Results go to <prefix>/<id>/cmd/result. Idempotent by id: the last REMEMBER results are kept in
# flash, and a repeated id gets the remembered result again without running anything.
#
# A command reaches the firmware only through its device (app.Device; a fake in the tests):
#   boot, uptime_ms()         what ping reports
#   setting(key), set(new)    the settings `set` may change: read one; apply and persist some
#   flush()                   readings in RAM to flash -> readings waiting in the outbox
#   reboot(), maintenance()   ask for a reboot, or for one into maintenance
#   ota(args)                 start (or confirm) an update: -> {"ota": state, ...}; ValueError if refused
#   command_done(op)          after every command that ran, failed or not
#   log(msg)
import json

from sensorfleet.settable import KINDS, SETTABLE, in_range

REMEMBER = 16


class CommandError(Exception):
    pass


class Commands:
    def __init__(self, device, path):
        self.device = device
        self.path = path
        self.done = []  # [[id, result json], ...] oldest first
        try:
            with open(path) as f:
                d = json.load(f)
            if isinstance(d, list):
                self.done = [x for x in d if isinstance(x, list) and len(x) == 2][-REMEMBER:]
        except (OSError, ValueError):
            pass

    def handle(self, payload):
        # -> result bytes to publish (never raises)
        try:
            msg = json.loads(payload)
        except ValueError:
            return _err(None, "payload is not JSON")
        if not isinstance(msg, dict):
            return _err(None, "a command must be a JSON object")
        cid = msg.get("id")
        if not isinstance(cid, (str, int)) or isinstance(cid, bool) or cid == "":
            return _err(None, "a command needs an id (string or number)")
        for k, r in self.done:
            if k == cid:
                return r.encode()
        try:
            fn = getattr(self, "op_" + str(msg.get("op")), None)
            if fn is None:
                raise CommandError("unknown op %s (ping, set, flush, reboot, maint, ota)" % json.dumps(msg.get("op")))
            args = msg.get("args") or {}
            if not isinstance(args, dict):
                raise CommandError("args must be an object")
            out = json.dumps({"id": cid, "ok": True, "result": fn(args)})
        except CommandError as e:
            out = json.dumps({"id": cid, "ok": False, "error": str(e)})
        except Exception as e:
            out = json.dumps({"id": cid, "ok": False, "error": "%s: %s" % (type(e).__name__, e)})
        self._remember(cid, out)
        self.device.command_done(msg.get("op"))
        return out.encode()

    def _remember(self, cid, out):
        self.done.append([cid, out])
        del self.done[:-REMEMBER]
        try:
            import os

            with open(self.path + ".tmp", "w") as f:
                f.write(json.dumps(self.done))
            os.rename(self.path + ".tmp", self.path)
        except OSError as e:
            self.device.log("commands: could not save: %s" % e)

    # -- the operations: each returns the result object or raises CommandError ------------------
    def op_ping(self, args):
        d = self.device
        return {"pong": True, "boot": d.boot, "uptime_s": d.uptime_ms() // 1000}

    def op_set(self, args):
        if not args:
            raise CommandError("set needs args, e.g. {\"interval_s\": 30}")
        new = {}
        for k, v in args.items():
            if k not in SETTABLE:
                raise CommandError("cannot set %s (%s)" % (json.dumps(k), ", ".join(sorted(SETTABLE))))
            kind, low, high = SETTABLE[k]
            if not in_range(kind, low, high, v):
                raise CommandError("%s must be %s in [%s, %s]" % (k, KINDS[kind], low, high))
            new[k] = v
        d = self.device
        d.set(new)
        return {k: d.setting(k) for k in SETTABLE}

    def op_flush(self, args):
        return {"outbox": self.device.flush()}

    def op_reboot(self, args):
        self.device.reboot()
        return {"rebooting": True}

    def op_maint(self, args):
        self.device.maintenance()
        return {"rebooting": True, "maintenance": True}

    def op_ota(self, args):
        try:
            return self.device.ota(args)
        except ValueError as e:
            raise CommandError(str(e))


def save_settings(path, changes):
    # Writes keys into config.json atomically (temp file + rename), keeping every other key.
    import os

    with open(path) as f:
        raw = json.load(f)
    raw.update(changes)
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(raw))
    os.rename(path + ".tmp", path)


def _err(cid, msg):
    return json.dumps({"id": cid, "ok": False, "error": msg}).encode()
