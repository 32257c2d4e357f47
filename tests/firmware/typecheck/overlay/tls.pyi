# Overlay on the published `tls` stub (MicroPython 1.29): the stubber lists only methods, but
# SSLContext also has the verify_mode attribute (extmod/modtls_mbedtls.c), which ssl.py relies on.
from typing import Final

from _typeshed import Incomplete

PROTOCOL_TLS_CLIENT: Final[int] = 0
PROTOCOL_TLS_SERVER: Final[int] = 1
PROTOCOL_DTLS_CLIENT: Final[int] = 2
PROTOCOL_DTLS_SERVER: Final[int] = 3
MBEDTLS_VERSION: Final[str]
CERT_NONE: Final[int] = 0
CERT_OPTIONAL: Final[int] = 1
CERT_REQUIRED: Final[int] = 2

class SSLContext:
    verify_mode: int
    def __init__(self, *argv, **kwargs) -> None: ...
    def load_verify_locations(self, *args, **kwargs) -> Incomplete: ...
    def set_ciphers(self, *args, **kwargs) -> Incomplete: ...
    def wrap_socket(self, *args, **kwargs) -> Incomplete: ...
    def load_cert_chain(self, *args, **kwargs) -> Incomplete: ...
    def get_ciphers(self, *args, **kwargs) -> Incomplete: ...
