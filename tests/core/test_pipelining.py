"""Pipelined requests over the wire protocol, against a real `edgeai serve` subprocess (numpy runtime):
request ids, replies in order, the window a target announces and enforces, and the pipelined issuer of the
offline and server scenarios. No timing assertions."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
from edgeai_wire_testing import RawClient, error_of, reference, serving, upload_raw, write_mlp

from edgeai_core.transports.tcp import TcpStream
from edgeai_core.wire import messages as msg
from edgeai_core.wire.client import Client
from edgeai_core.wire.codec import decode_tensors, encode_tensors
from edgeai_core.wire.framing import ErrorCode, MessageType, encode_frame

pytestmark = pytest.mark.subprocess

SERVE = ["--protocol", "tcp", "--runtime", "numpy", "--port", "0"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return write_mlp(tmp_path_factory.mktemp("model") / "mlp.npz")


def connect(port: int) -> Client:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    return Client(TcpStream(sock, f"127.0.0.1:{port}"), timeout_s=10)


def loaded(port: int, model: Any) -> Client:
    client = connect(port)
    client.hello()
    client.send_iospec(model.to_json())
    client.upload(model.path)
    return client


def inputs(count: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(0)
    return [[rng.standard_normal((1 + i % 3, 6)).astype(np.float32)] for i in range(count)]


def hello_raw(raw: RawClient, capabilities: int) -> msg.HelloReply:
    header, payload = raw.request(
        MessageType.HELLO, msg.Hello(nonce=os.urandom(16), capabilities=capabilities).encode()
    )
    assert header.type == MessageType.HELLO, error_of(payload)
    return msg.HelloReply.decode(payload)


def test_the_window_is_announced_only_to_hosts_that_ask(tmp_path: Path) -> None:
    with serving([*SERVE, "--max-inflight", "5"], tmp_path / "w") as server:
        raw = RawClient(server.port)
        old = hello_raw(raw, 0)  # a host of earlier versions gets the reply it always got
        assert old.max_inflight == 0 and old.encode() == msg.HelloReply.decode(old.encode()).encode()
        raw.close()
        raw = RawClient(server.port)
        assert hello_raw(raw, msg.HOST_PIPELINING).max_inflight == 5
        raw.close()
        with connect(server.port) as client:
            info = client.hello()
            assert info.max_inflight == 5 and client.window(64) == 5 and client.window(3) == 3


def test_pipelined_replies_come_back_in_order_with_their_ids(tmp_path: Path, model: Any) -> None:
    batches = inputs(200)
    with serving(SERVE, tmp_path / "w") as server, loaded(server.port, model) as client:
        seen: list[tuple[int, int]] = []
        outputs: list[np.ndarray] = []

        def keep(i: int, frame: Any) -> None:
            seen.append((i, frame.request_id))
            outputs.append(decode_tensors(frame.payload, 8, copy=True)[0])

        before = client._rid
        start, issued, done = client.pipeline(
            200, [client.prepare(b) for b in batches].__getitem__, 8, on_reply=keep
        )
        assert [i for i, _ in seen] == list(range(200))
        assert [rid for _, rid in seen] == [before + 1 + i for i in range(200)]  # one id per request
        for x, out in zip(batches, outputs, strict=True):
            np.testing.assert_array_equal(out, reference(model, x[0]))
        assert np.all(issued >= start) and np.all(done >= issued)
        results = client.infer_many(batches, 16)  # the target allows 64
        assert len(results) == 200
        for x, (out, target_ns) in zip(batches, results, strict=True):
            np.testing.assert_array_equal(out[0], reference(model, x[0]))
            assert target_ns > 0
        assert client.stats()["inferences"] == 400  # exactly one inference per request


def test_requests_without_an_id_behave_as_before(tmp_path: Path, model: Any) -> None:
    with serving(SERVE, tmp_path / "w") as server:
        raw = RawClient(server.port)
        raw.hello()
        upload_raw(raw, model)
        x = np.full((2, 6), 0.5, np.float32)
        frame = encode_frame(MessageType.INFER, b"".join(bytes(p) for p in encode_tensors([x])), request_id=0)
        raw.send(frame + frame)  # two requests with id 0, back to back
        for _ in range(2):
            reply = raw.read()
            assert reply is not None
            header, payload = reply
            assert header.type == MessageType.OUTPUT and header.request_id == 0
            np.testing.assert_array_equal(decode_tensors(payload, 8)[0], reference(model, x))
        raw.close()


def test_a_host_flooding_past_the_window_gets_an_error_and_the_server_stays_up(
    tmp_path: Path, model: Any
) -> None:
    with serving([*SERVE, "--max-inflight", "4"], tmp_path / "w") as server:
        raw = RawClient(server.port)
        hello_raw(raw, msg.HOST_PIPELINING)
        upload_raw(raw, model)
        x = np.full((1, 6), 0.5, np.float32)
        payload = b"".join(bytes(p) for p in encode_tensors([x]))
        flood = b"".join(raw.frame(MessageType.INFER, payload) for _ in range(40))
        raw.send(flood)  # one send of 40 small frames: the target reads them together
        replies = []
        while (reply := raw.read()) is not None:
            replies.append(reply)
        assert replies, "the target answered the flood"
        header, text = replies[-1][0], error_of(replies[-1][1])
        assert header.type == MessageType.ERROR and text[0] == ErrorCode.TOO_MANY_REQUESTS
        assert "more than 4 requests in flight" in text[1] and "--max-inflight" in text[1]
        assert all(h.type == MessageType.OUTPUT for h, _ in replies[:-1]) and len(replies) < 40
        raw.close()
        assert server.proc.poll() is None, "the server is still running"
        with loaded(server.port, model) as client:  # and serves the next host
            out, _ = client.infer([x])
            np.testing.assert_array_equal(out[0], reference(model, x))


def test_the_pipelined_issuer_runs_offline_and_server_scenarios(tmp_path: Path, model: Any) -> None:
    from edgeai_core.remote import PipelineIssuer
    from edgeai_core.scenarios import ScenarioSettings, poisson_schedule, run_offline

    batches = inputs(16)
    with serving(SERVE, tmp_path / "w") as server, loaded(server.port, model) as client:

        class Runtime:  # what PipelineIssuer uses of a RemoteRuntime
            def _client(self) -> Client:
                return client

            def _guard(self, call: Any) -> Any:
                return call()

        issuer = PipelineIssuer(Runtime(), lambda i: batches[i % len(batches)])  # type: ignore[arg-type]
        run = run_offline(issuer, ScenarioSettings(scenario="offline", concurrency=8, min_count=300))
        assert run.count >= 300
        arrivals = poisson_schedule(3000.0, 250, seed=5)
        timing = issuer.run(250, 4, arrivals)
        assert np.all(timing.issued_ns >= timing.start_ns + arrivals)  # never before its arrival
        assert np.all(timing.done_ns >= timing.issued_ns)
        probe = max(8 * 4, min(300, 64))
        assert client.stats()["inferences"] == probe + run.count + 250


def test_buffered_requests_are_counted_by_message_not_by_chunk() -> None:
    from edgeai_core.wire.connection import Connection
    from edgeai_core.wire.framing import Flag

    a, b = socket.socketpair()
    try:
        conn = Connection(TcpStream(a, "pair"), role="target")
        frames = [
            encode_frame(MessageType.INFER, b"x" * 10, request_id=1),
            encode_frame(MessageType.INFER, b"y" * 20, request_id=2),
            encode_frame(MessageType.MODEL, b"head", request_id=3, flags=int(Flag.MORE)),
            encode_frame(MessageType.MODEL, b"more", request_id=3, flags=int(Flag.CONT | Flag.MORE)),
            encode_frame(MessageType.MODEL, b"last", request_id=3, flags=int(Flag.CONT)),
            encode_frame(MessageType.STATS, b"", request_id=4)[:10],  # a header that has begun
        ]
        b.sendall(b"".join(frames))
        assert conn.recv().request_id == 1
        assert conn.buffered and conn.buffered_frames(64) == 3  # INFER 2, the upload, the STATS begun
        assert conn.buffered_frames(1) == 2  # counting stops past the limit
        assert conn.recv().request_id == 2 and conn.buffered_frames(64) == 2
    finally:
        a.close()
        b.close()
