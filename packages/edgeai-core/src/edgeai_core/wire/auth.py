"""Shared-secret authentication: HMAC-SHA256 challenge-response in both directions; the token never travels.

Both sides exchange 16-byte random nonces in HELLO. The host proves it holds the token with
``HMAC(token, "edgeai/1 host" + target_nonce + host_nonce)`` in AUTH; the target answers OK carrying
``HMAC(token, "edgeai/1 target" + host_nonce + target_nonce)``, so the host knows it talks to a target that
holds the token too. Fresh nonces on both sides make a recorded exchange useless for replay.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from edgeai_core.errors import UsageError
from edgeai_core.wire.messages import NONCE_SIZE

log = logging.getLogger(__name__)

HOST_LABEL = b"edgeai/1 host"
TARGET_LABEL = b"edgeai/1 target"
#: Tokens shorter than this are refused: they could be guessed.
MIN_TOKEN_BYTES = 16


def new_nonce() -> bytes:
    return secrets.token_bytes(NONCE_SIZE)


def host_proof(token: bytes, target_nonce: bytes, host_nonce: bytes) -> bytes:
    return hmac.new(token, HOST_LABEL + target_nonce + host_nonce, hashlib.sha256).digest()


def target_proof(token: bytes, host_nonce: bytes, target_nonce: bytes) -> bytes:
    return hmac.new(token, TARGET_LABEL + host_nonce + target_nonce, hashlib.sha256).digest()


def verify(expected: bytes, received: bytes | bytearray | memoryview) -> bool:
    """Constant-time comparison."""
    return hmac.compare_digest(expected, bytes(received))


def read_token(path: str | os.PathLike[str], where: str = "token_file") -> bytes:
    """The token in ``path`` (surrounding whitespace stripped). A readable-by-others file is logged."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes().strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise UsageError(f"{where}: cannot read the token file {path}: {exc.strerror or exc}") from None
    if len(data) < MIN_TOKEN_BYTES:
        raise UsageError(
            f"{where}: the token in {path} has {len(data)} bytes; use at least {MIN_TOKEN_BYTES} "
            "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))' > token`)"
        )
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("token file %s is readable by other users; chmod 600 it", path)
    return data


def write_token(path: str | os.PathLike[str]) -> bytes:
    """Create a fresh random token file readable by its owner only (the demo uses this)."""
    token = secrets.token_hex(32).encode("ascii")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(token + b"\n")
    return token
