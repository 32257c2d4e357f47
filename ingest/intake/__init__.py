"""MQTT in: the client that receives device messages, and the embedded broker used when none is configured."""
