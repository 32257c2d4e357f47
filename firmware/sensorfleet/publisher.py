# The publisher task: everything the app sends goes out here as QoS 1, queued messages (status,
# command results) first, then the outbox's readings in batches; at most mqtt.window messages are
# unacknowledged at a time. A batch leaves the outbox only once its PUBACK is in.
import asyncio
from time import ticks_ms

from . import payload as PL

# Each message is a tuple whose first element is its kind, which says what its PUBACK means:
#   a queued message  (kind, topic, payload, retain), its own ack tag
#   a batch's ack tag (BATCH, token from Outbox.claim(), readings in the batch)
# Tuples, not objects: on the board an instance costs several times a tuple's heap.
STATUS = 0  # the retained status (a newer one replaces one still queued): nothing to do
RESULT = 1  # a command's result: nothing to do
REBOOT = 2  # the reboot command's result: once it is delivered the board may reboot
BATCH = 3  # readings: the outbox lets them go
# Once a status (the birth) and readings are acknowledged, the firmware is healthy: on_healthy()
# (the boot guard's crash streak ends, an updated app on trial is kept).


class Publisher:
    def __init__(self, client, outbox, topics, clock, cfg, boot, guard, mark_heap):
        self.client = client
        self.outbox = outbox
        self.topics = topics
        self.clock = clock
        self.cfg = cfg  # batch_max is read at each batch: a `set` command changes it
        self.boot = boot
        self.guard = guard
        self.mark_heap = mark_heap
        self.queue = []  # (kind, topic, payload, retain), sent before any reading
        self.wake = asyncio.Event()  # something to send, or a slot in the window came free
        self.beat = ticks_ms()  # when the loop last turned: the watchdog starves when it stops
        self.acked = 0  # readings delivered this boot
        self.reboot_acked = False
        self.delivered = False
        self.birth = False
        self.on_healthy = guard.healthy if guard else None
        client.on_ack = self.on_ack

    def send(self, kind, topic, payload, retain=False):
        self.queue.append((kind, topic, payload, retain))
        self.wake.set()

    def send_status(self, payload, first=False):
        # first: the birth after a connect goes before whatever else is queued.
        q = [m for m in self.queue if m[0] != STATUS]
        m = (STATUS, self.topics.status, payload, True)
        if first:
            q.insert(0, m)
        else:
            q.append(m)
        self.queue = q
        self.wake.set()

    def queued(self, kind):
        return any(m[0] == kind for m in self.queue)

    def idle(self):
        return not self.queue and not self.client.inflight

    def on_ack(self, tag):
        kind = tag[0]
        if kind == BATCH:
            self.outbox.acked(tag[1])
            self.acked += tag[2]
            if not self.delivered:
                self.delivered = True  # readings delivered: whatever crashed before is behind us
                self._healthy()
        elif kind == REBOOT:
            self.reboot_acked = True
        elif kind == STATUS and not self.birth:
            self.birth = True
            self._healthy()
        self.wake.set()

    def _healthy(self):
        if self.delivered and self.birth and self.on_healthy:
            f = self.on_healthy
            self.on_healthy = None
            f()

    async def run(self):
        c = self.client
        ob = self.outbox
        n = 0
        while True:
            self.beat = ticks_ms()
            if c.can_publish():
                if self.queue:
                    m = self.queue.pop(0)
                    await c.publish(m[1], m[2], 1, m[3], m)
                    continue
                r = ob.peek(self.cfg["batch_max"])
                if r:
                    ck = self.clock
                    data, k, end = PL.batch(r[1], self.boot, ck.uptime_ms(), ck.base, self.cfg["batch_max"])
                    tag = (BATCH, ob.claim(r[0], end, k), k)
                    r = None
                    n += 1
                    if n % 8 == 1:
                        self.mark_heap()  # measured while a batch is being built and sent
                    await c.publish(self.topics.telemetry, data, 1, False, tag)
                    data = None
                    continue
            self.wake.clear()
            try:
                await asyncio.wait_for_ms(self.wake.wait(), 1000)
            except asyncio.TimeoutError:
                pass
