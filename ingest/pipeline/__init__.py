"""The ingest pipeline: the intake's messages are routed (decoded into `work.Work`), then the writer
stores and records them and only then acknowledges them."""
