"""Transports of the wire protocol, registered as ``protocol`` components by the core plugin.

:mod:`~edgeai_core.transports.tcp` (``tcp``) and :mod:`~edgeai_core.transports.serialport` (``serial``,
pyserial imported only when used). Framing, acknowledgement and retransmission are the core's
(:mod:`edgeai_core.wire`); a transport only moves bytes.
"""
