# A test's own directory as the board's flash: entered fresh, left, read back.
import os

from safeboot import rm


def enter(name):
    import gc

    gc.collect()
    rm(name)
    os.mkdir(name)
    os.chdir(name)


def leave():
    os.chdir("..")


def read(p):
    with open(p, "rb") as f:
        return f.read()
