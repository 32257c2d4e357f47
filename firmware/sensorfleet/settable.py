# The settings a `set` command may change, name -> (kind, low, high): the ranges config.json accepts
# too. The ingest's contract (ingest/contract.py, SETTABLE) is the same table; a test holds the two
# together. A module of its own, so small that the config check can import it at boot without
# costing the heap the commands' code would.
SETTABLE = {"interval_s": ("num", 0.001, 86400), "batch_max": ("int", 1, 200)}
KINDS = {"num": "a number", "int": "an integer"}


def in_range(kind, low, high, v):
    if isinstance(v, bool) or not isinstance(v, int if kind == "int" else (int, float)):
        return False
    return low <= v <= high
