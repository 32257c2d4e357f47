// The dashboard's copy of the wire contract (ingest/contract.py): the settings a `set` command may
// change, with the ranges a board accepts. tests/test_contract_copies.py holds this object to the
// contract, so it stays plain JSON.
export const SETTABLE = {"interval_s": {"kind": "num", "low": 0.001, "high": 86400}, "batch_max": {"kind": "int", "low": 1, "high": 200}};
