# Every topic a board publishes on or subscribes to, under <prefix>/<device id>/ (the ingest's
# contract, ingest/contract.py, accepts these suffixes and no others).
class Topics:
    def __init__(self, prefix, device_id):
        base = "%s/%s/" % (prefix, device_id)
        self.telemetry = base + "telemetry"  # reading batches
        self.status = base + "status"  # retained; the last will says {"online":false} here
        self.cmd = base + "cmd"  # subscribed: commands for this board
        self.result = base + "cmd/result"  # one message per command run
        self.ota_req = base + "ota/req"  # QoS 0: a request for one chunk of an update
        self.ota_data = base + "ota/data"  # subscribed, QoS 0: the chunks (sensorfleet/ota.py)
