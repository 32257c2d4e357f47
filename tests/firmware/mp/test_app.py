# The app as boot.py builds it, with a fake HAL and no broker: it samples into the outbox, keeps
# retrying the broker, and feeds the watchdog only while sampling and publishing make progress;
# the boot counter.
import asyncio

from hal.unix import Hal
from sensorfleet import app as A
from sensorfleet import boot as B
from sensorfleet import config as C

from mptest import eq, tmpdir


class FakeHal(Hal):
    name = "fake"

    def __init__(self):
        super().__init__()
        self.feeds = 0
        self.logs = []
        self.wdt = None

    def wdt_start(self, s):
        self.wdt = s

    def wdt_feed(self):
        self.feeds += 1

    def log(self, m):
        self.logs.append(m)


def make(d, **over):
    raw = {
        "device_id": "dev-9",
        "mqtt": {"host": "127.0.0.1", "port": 1, "backoff_min_s": 0.05, "backoff_max_s": 0.1},
        "interval_s": 0.02,
        "flush_ms": 50,
        "data_dir": tmpdir(d),
        "log_s": 0,
        "wdt_s": 30,
        "sensors": [{"type": "sim"}],
    }
    raw.update(over)
    cfg, errors = C.check(raw)
    eq(errors, [])
    hal = FakeHal()
    return B.build(hal, cfg), hal


async def test_watchdog_is_fed_only_while_sampling_progresses():
    app, hal = make("app1")
    task = asyncio.create_task(app.run())
    await asyncio.sleep_ms(600)
    eq(hal.wdt, 30)
    assert app.samples > 10 and hal.feeds > 2, (app.samples, hal.feeds)
    assert any("reconnecting" in m for m in hal.logs), hal.logs  # no broker: it keeps trying
    assert app.outbox.pending == app.samples  # every reading is kept

    async def stuck(clock):
        await asyncio.sleep_ms(100000)

    old = A.SAMPLE_GRACE_MS
    A.SAMPLE_GRACE_MS = 200
    try:
        app.sensors[0].read = stuck
        await asyncio.sleep_ms(400)
        f = hal.feeds
        await asyncio.sleep_ms(500)
        eq(hal.feeds, f)  # a stuck sampler starves the watchdog
    finally:
        A.SAMPLE_GRACE_MS = old
    task.cancel()


async def test_stuck_publisher_starves_the_watchdog():
    app, hal = make("app2")
    task = asyncio.create_task(app.run())
    await asyncio.sleep_ms(300)
    old = A.PUB_GRACE_MS
    A.PUB_GRACE_MS = 200
    try:
        app.pub.beat -= 10000  # as if the publisher loop had not turned for 10 s
        f = hal.feeds
        await asyncio.sleep_ms(50)
        app.pub.beat -= 10000
        await asyncio.sleep_ms(50)
        assert hal.feeds <= f + 1, (f, hal.feeds)
    finally:
        A.PUB_GRACE_MS = old
    task.cancel()


async def test_unsynced_clock_records_uptime():
    app, hal = make("app3", clock_delay_s=-1, stop_after=5)
    task = asyncio.create_task(app.run())
    await asyncio.sleep_ms(400)
    app.outbox.flush()
    seg, recs = app.outbox.peek(10)
    eq(len(recs), 5)
    eq([r[3] for r in recs], [1] * 5)  # KIND_UP: sent later as "age"
    task.cancel()


def test_boot_counter():
    d = tmpdir("boot1")
    eq(B.bump_boot(d + "/boot"), 1)
    eq(B.bump_boot(d + "/boot"), 2)
    with open(d + "/boot", "w") as f:
        f.write("garbage")
    eq(B.bump_boot(d + "/boot"), 1)


def test_flash_writes_carry_16_readings_by_default():
    # ~1 block erase per flash write on littlefs: 16 readings a write keeps wear under 0.1 erase each.
    app, _ = make("app9", interval_s=10, flush_ms=None)
    eq(app.flush_ms(), 160000)
    app.cfg["interval_s"] = 0.02
    eq(app.flush_ms(), 1000)  # at least a second
    app, _ = make("app10", interval_s=10, flush_ms=250)
    eq(app.flush_ms(), 250)
