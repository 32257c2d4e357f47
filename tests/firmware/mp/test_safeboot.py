# The boot guard's last resort (safeboot._crash): the app is let go of before the crash is written
# down, and the board resets even when writing it down fails.
import sys

import safeboot

from flashdir import enter, leave
from mptest import eq, raises


class Reset(Exception):
    pass


class Hal:
    crash_delay_ms = 0

    def crash_reset(self):
        raise Reset  # machine.reset() does not return


class NoHeapForTheRecord(safeboot.Guard):
    def crashed(self, e):
        self.held_at_record = "sensorfleet.held" in sys.modules
        raise MemoryError("memory allocation failed, allocating 601 bytes")


def test_a_crash_that_cannot_be_written_down_still_resets_the_board():
    enter("crash")
    sys.modules["sensorfleet.held"] = bytearray(4096)  # what the app's modules hold
    guard = NoHeapForTheRecord()
    raises(Reset, safeboot._crash, guard, Hal(), RuntimeError("the app failed"))
    eq(guard.held_at_record, False)
    leave()


def test_without_a_hal_the_crash_ends_in_a_soft_reset():
    enter("nohal")
    guard = NoHeapForTheRecord()
    eq(raises(SystemExit, safeboot._crash, guard, None, RuntimeError("no hal")).args, (3,))
    leave()
