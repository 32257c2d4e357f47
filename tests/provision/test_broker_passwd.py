import base64
import re
import subprocess
from pathlib import Path

import pytest

from ingest.errors import DeviceError
from ingest.provision.passwd import generate_password, hash_password, password_file, verify_password
from support.mosquitto import HINT
from support.procs import find_binary


def test_hash_has_mosquitto_2_layout() -> None:
    hashed = hash_password("secret")
    found = re.fullmatch(r"\$7\$101\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)", hashed)
    assert found, hashed
    assert len(base64.b64decode(found[1])) == 12
    assert len(base64.b64decode(found[2])) == 64


def test_known_vector_from_mosquitto_passwd() -> None:
    # Written by mosquitto_passwd 2.0.11 for password "secret".
    salt = base64.b64decode("FsIZAT3rlsip//lS")
    expected = (
        "$7$101$FsIZAT3rlsip//lS$LQeBdJqQYfNgFMTAp5+yksBaazyb2daXtan/dga60Rj3v7E+oO+RZx1acJ9cFmUXOPeZw4h0"
        "DwjoF4+rVuIE5w=="
    )
    assert hash_password("secret", salt=salt) == expected


def test_verifies_what_mosquitto_passwd_writes(tmp_path: Path) -> None:
    passwd = find_binary("mosquitto_passwd", "/usr/sbin", "/usr/bin", hint=HINT)
    pwfile = tmp_path / "passwd"
    pwfile.write_text("")
    subprocess.run([passwd, "-b", str(pwfile), "dev-1", "s3cret"], check=True, capture_output=True)
    user, hashed = pwfile.read_text().strip().split(":", 1)
    assert user == "dev-1"
    assert verify_password("s3cret", hashed)
    assert not verify_password("s3creT", hashed)


def test_salts_differ_and_passwords_are_random() -> None:
    assert hash_password("same") != hash_password("same")
    passwords = {generate_password() for _ in range(50)}
    assert len(passwords) == 50
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", p) for p in passwords)


def test_password_file_lines() -> None:
    a, b = hash_password("a"), hash_password("b")
    assert password_file([("dev-1", a), ("dev-2", b)]) == f"dev-1:{a}\ndev-2:{b}\n"
    with pytest.raises(DeviceError):
        password_file([("bad:name", a)])
