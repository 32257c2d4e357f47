# The outbox on littlefs (hal/flash.py's block device over an image file, as on the ESP32): the
# capacity is cut to the free flash at open, and a filesystem that fills up under it (ENOSPC)
# drops the oldest readings, counted, instead of raising.
import os

import vfs
from hal.flash import FileBlockDevice
from sensorfleet.outbox import KIND_TS, Outbox

from mptest import eq

MOUNT = "/lfs"


def mount(blocks):
    try:
        vfs.umount(MOUNT)
    except OSError:
        pass
    try:
        os.remove("t.img")
    except OSError:
        pass
    dev = FileBlockDevice("t.img", blocks)
    vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), MOUNT)
    return dev


def fill(ob, n, start=0):
    for i in range(start, start + n):
        ob.append(1, i, KIND_TS, 1764000000000 + i, b'"temperature":21.5,"humidity":40.25')
        if i % 20 == 19:
            ob.flush()
    ob.flush()


def test_capacity_is_cut_to_the_free_flash():
    mount(24)  # 96 KiB
    logs = []
    ob = Outbox(MOUNT + "/ob", 4096, 64, logs.append).open()  # 256 KiB asked
    assert ob.max_segs < 24, ob.max_segs
    eq(ob.shrunk, 1)
    assert "do not fit the free flash" in logs[0], logs
    fill(ob, 3000)
    assert ob.dropped > 0 and len(ob.sno) <= ob.max_segs
    eq(ob.pending + ob.dropped, 3000)


def test_a_filesystem_that_fills_up_drops_oldest_readings_never_raises():
    mount(32)
    logs = []
    ob = Outbox(MOUNT + "/ob", 4096, 16, logs.append).open()
    eq(ob.shrunk, 0)
    fill(ob, 200)
    # something else takes the rest of the flash
    with open(MOUNT + "/filler", "wb") as f:
        try:
            while True:
                f.write(bytes(4096))
                f.flush()  # committed block by block: what fitted stays
        except OSError as e:
            eq(e.errno, 28)
    before = ob.dropped
    fill(ob, 400, 200)
    assert ob.shrunk >= 1, logs
    assert ob.dropped > before
    eq(ob.pending + ob.dropped, 600)
    # what is left is still readable in order, newest last
    seg, recs = ob.peek(5)
    assert recs[0][2] >= before
    vfs.umount(MOUNT)
