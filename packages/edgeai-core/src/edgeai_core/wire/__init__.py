"""The edgeai wire protocol between a host and a target (``docs/protocol.md`` describes every byte).

- :mod:`~edgeai_core.wire.framing`: the 24-byte frame header, message types, flags and error codes
- :mod:`~edgeai_core.wire.codec`: tensors as a binary header plus raw bytes (never pickle)
- :mod:`~edgeai_core.wire.messages`: HELLO, ERROR, MODEL and the other control payloads
- :mod:`~edgeai_core.wire.auth`: HMAC-SHA256 challenge-response with a shared token
- :mod:`~edgeai_core.wire.connection`: frames over a stream, with CRC and retransmission on serial links
- :mod:`~edgeai_core.wire.client` and :mod:`~edgeai_core.wire.server`: the host and target sides

Transports (``tcp``, ``serial``) are protocol components in :mod:`edgeai_core.transports`.
"""

from __future__ import annotations

from edgeai_core.wire.framing import HEADER_SIZE, MAGIC, VERSION, ErrorCode, Flag, MessageType, WireError

__all__ = ["HEADER_SIZE", "MAGIC", "VERSION", "ErrorCode", "Flag", "MessageType", "WireError"]
