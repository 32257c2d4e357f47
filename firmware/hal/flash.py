# A virtual board's flash as the ESP32 has it: littlefs (the port's vfs.VfsLfs2) with 4 KiB blocks,
# on an image file of the host, so that a killed process keeps its flash as a power cut would.
# The block device counts what wears the chip out: block erases and bytes programmed.
#   cd <board dir> && micropython -X heapsize=128K -c "import hal.flash; hal.flash.boot()"
# On the first boot the image is formatted and the firmware tree and config.json of <board dir>
# are copied in; the firmware then runs from the image (cwd and imports).
import os
import sys

BLOCK = 4096
ERASED = b"\xff" * 64
DEVICE = None  # the mounted FileBlockDevice, for Hal.flash_stats()


class FileBlockDevice:
    # The extended block protocol (littlefs programs parts of blocks and erases whole ones).
    def __init__(self, path, blocks, block=BLOCK):
        self.bs = block
        self.n = blocks
        self.erases = 0
        self.programmed = 0
        try:
            self.f = open(path, "r+b")
            self.fresh = False
        except OSError:
            self.f = open(path, "w+b")
            for _ in range(blocks * block // len(ERASED)):
                self.f.write(ERASED)
            self.f.flush()
            self.fresh = True

    def readblocks(self, b, buf, off=0):
        self.f.seek(b * self.bs + off)
        self.f.readinto(buf)

    def writeblocks(self, b, buf, off=None):
        if off is None:  # the simple protocol: erase, then program the whole block
            self._erase(b)
            off = 0
        self.f.seek(b * self.bs + off)
        self.f.write(buf)
        self.f.flush()
        self.programmed += len(buf)

    def _erase(self, b):
        self.f.seek(b * self.bs)
        for _ in range(self.bs // len(ERASED)):
            self.f.write(ERASED)
        self.erases += 1

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.n
        if op == 5:  # block size
            return self.bs
        if op == 6:  # erase a block
            self._erase(arg)
            self.f.flush()
            return 0
        return 0

    def stats(self):
        return self.erases, self.programmed


def _copy_tree(src, dst):
    for name, kind, *_ in os.ilistdir(src):
        if name.startswith(".") or name in ("flash.img", "console.log", "__pycache__"):
            continue
        s = src + "/" + name
        d = dst + "/" + name
        if kind == 0x4000:
            os.mkdir(d)
            _copy_tree(s, d)
        elif name.endswith((".py", ".mpy", ".json", ".pem")):
            with open(s, "rb") as fi, open(d, "wb") as fo:
                fo.write(fi.read())


def boot(image="flash.img", kib=2048):
    import vfs

    global DEVICE
    host = os.getcwd()
    dev = FileBlockDevice(host + "/" + image, kib * 1024 // BLOCK)
    if dev.fresh:
        vfs.VfsLfs2.mkfs(dev)
    vfs.mount(vfs.VfsLfs2(dev), "/flash")
    if dev.fresh:
        _copy_tree(host, "/flash")
    dev.erases = dev.programmed = 0  # count what the firmware does, not the formatting
    DEVICE = dev
    os.chdir("/flash")
    sys.path[:] = ["/flash"] + [p for p in sys.path if p not in ("", ".")]
    for m in [m for m in sys.modules if m.split(".")[0] in ("hal", "safeboot")]:
        if m != "hal.flash":
            sys.modules.pop(m)
    import safeboot

    safeboot.run()
