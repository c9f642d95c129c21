"""Wire-protocol benchmark on loopback: INFER round trips and model uploads against raw TCP, same run.

The target is a real `edgeai serve --runtime echo` subprocess: the built-in diagnostic runtime ``echo``
returns its inputs unchanged, so what is measured is the protocol (framing, tensor encoding, the server's
dispatch, the host client), not a model. The baseline is a raw TCP server subprocess doing the least any
protocol must do:

* round trips: the same payload bytes (the input tensor's data: 64 B, 3 KiB, 150 KiB) sent and echoed
  back, fixed size, no header, ``recv_into`` with ``MSG_WAITALL`` into a reused buffer;
* upload: the same 100 MB sent with ``sendall`` and stored the way the target stores a model (a new file,
  preallocated, written, renamed: ``raw-file``). A model upload must put the model on the target's disk, so
  this is the baseline of the upload target. For reference the run also measures the transfer into memory
  with nothing stored (``raw-memory``) and storing alone with no network (``store-only``): where storing
  100 MB is slower than the socket (a VM's page cache), no upload that keeps the model can approach
  ``raw-memory``, and the numbers show by how much.

Protocol and baseline are measured interleaved, in blocks of alternating order, each block starting with a
few unrecorded calls. The ratio is the median over block pairs of median(protocol) / median(raw) within the
pair: measured next to each other, both sides share the machine's load of that moment, which keeps a busy
machine's bursts from landing on one side (the ratio of the whole run's medians is recorded too). Targets:
round trip <= 2.0 x raw for each size; upload throughput >= 0.7 x ``raw-file`` (paired the same way).

Placement: on a small VM the scheduler decides per run whether a client and its server share a CPU, and
a wake-up across CPUs costs a hypervisor round trip, so unpinned runs swing either way by several times.
Both pairs are therefore pinned the same way: by default everything on one CPU (``--placement same``, the
stricter and steadier comparison); ``split`` puts the client on one CPU and both servers on another.

Exit status: 0 targets met, 1 a target missed (a benchmark may fail; it is not a test), 2 error.

    python bench/protocol.py [--samples N] [--blocks N] [--upload-mb N] [--uploads N]
                             [--placement same|split|none] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import BenchError, environment, write_result

ROUND_TRIP_TARGET = 2.0
UPLOAD_TARGET = 0.7
SIZES = (64, 3 * 1024, 150 * 1024)
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "protocol.json"

RAW_SERVER = r"""
import os, socket, sys, threading

workdir = sys.argv[1]
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
print(listener.getsockname()[1], flush=True)


def serve(conn, number):
    buffer = bytearray(1 << 24)
    view = memoryview(buffer)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    mode = conn.recv(1, socket.MSG_WAITALL)
    size = int.from_bytes(conn.recv(8, socket.MSG_WAITALL), "little")
    if mode == b"p":  # ping-pong of `size` bytes until the client closes
        chunk = view[:size]
        while conn.recv_into(chunk, size, socket.MSG_WAITALL) == size:
            conn.sendall(chunk)
    elif mode == b"u":  # uploads of `size` bytes, into memory, each answered by one byte
        while True:
            left = size
            while left:
                got = conn.recv_into(view, min(left, len(view)))
                if not got:
                    break
                left -= got
            if left:
                break
            conn.sendall(b"k")
    elif mode == b"f":  # uploads of `size` bytes, stored in a file (temporary name, then renamed)
        count = 0
        while True:
            tmp = os.path.join(workdir, f".raw-{number}-{count}.part")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.posix_fallocate(fd, 0, size)  # what the edgeai server does too
            left = size
            while left:
                got = conn.recv_into(view, min(left, len(view)))
                if not got:
                    break
                os.write(fd, view[:got])
                left -= got
            os.close(fd)
            if left:
                os.unlink(tmp)
                break
            os.replace(tmp, os.path.join(workdir, "raw-model.bin"))
            count += 1
            conn.sendall(b"k")
    conn.close()


number = 0
while True:
    conn, _ = listener.accept()
    number += 1
    threading.Thread(target=serve, args=(conn, number), daemon=True).start()
"""


def edgeai_command() -> list[str]:
    script = Path(sys.executable).parent / "edgeai"
    return [str(script)] if script.exists() else [sys.executable, "-m", "edgeai_core"]


def start(cmd: list[str], what: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    if not lines or not lines[0]:
        proc.kill()
        raise BenchError(f"{what} did not start: {proc.stderr.read() if proc.stderr else ''}")  # type: ignore[union-attr]
    return proc, lines[0]


class Raw:
    """A raw TCP connection to the baseline server in one mode."""

    def __init__(self, port: int, mode: bytes, size: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(mode + size.to_bytes(8, "little"))
        self.size = size
        self.buffer = memoryview(bytearray(max(size, 1)))

    def round_trip(self, payload: bytes) -> int:
        start = time.perf_counter_ns()
        self.sock.sendall(payload)
        self.sock.recv_into(self.buffer, self.size, socket.MSG_WAITALL)
        return time.perf_counter_ns() - start

    def upload(self, data: memoryview) -> float:
        start = time.perf_counter()
        self.sock.sendall(data)
        self.sock.recv(1)
        return time.perf_counter() - start

    def close(self) -> None:
        self.sock.close()


def protocol_client(port: int, shape: tuple[int, ...], folder: Path) -> Any:
    from edgeai_core.builtins.echo import echo_artifact
    from edgeai_core.transports.tcp import TcpStream
    from edgeai_core.wire.client import Client

    stream = TcpStream(socket.create_connection(("127.0.0.1", port)), f"127.0.0.1:{port}")
    client = Client(stream, timeout_s=30)
    client.hello()
    artifact = echo_artifact(folder / f"echo-{'x'.join(map(str, shape))}.bin", [(None, *shape[1:])])
    client.send_iospec(artifact.to_json())
    client.upload(artifact.path)
    return client


def measure_round_trips(port_proto: int, port_raw: int, size: int, samples: int, blocks: int,
                        warmup: int, folder: Path) -> dict[str, Any]:  # fmt: skip
    import numpy as np

    shape = (1, size // 4)
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    payload = x.tobytes()
    client = protocol_client(port_proto, shape, folder)
    prepared = client.prepare([x])
    outputs, _ = client.infer([x])
    if not np.array_equal(outputs[0], x):
        raise BenchError("the echo target did not echo its input")
    raw = Raw(port_raw, b"p", size)
    for _ in range(warmup):
        client.infer_prepared(prepared)
        raw.round_trip(payload)
    proto_ns: list[int] = []
    raw_ns: list[int] = []
    target_ns: list[int] = []
    per_block = max(1, samples // blocks)
    clock = time.perf_counter_ns
    run = client.infer_prepared
    settle = 20  # unrecorded calls at the start of each block: the other side's process was just running
    pair_ratios: list[float] = []
    for block in range(max(1, samples // per_block)):
        order = (0, 1) if block % 2 == 0 else (1, 0)
        first = len(proto_ns), len(raw_ns)
        for side in order:
            if side == 0:
                for _ in range(settle):
                    run(prepared)
                for _ in range(per_block):
                    start = clock()
                    target_ns.append(run(prepared))
                    proto_ns.append(clock() - start)
            else:
                for _ in range(settle):
                    raw.round_trip(payload)
                for _ in range(per_block):
                    raw_ns.append(raw.round_trip(payload))
        pair_ratios.append(statistics.median(proto_ns[first[0] :]) / statistics.median(raw_ns[first[1] :]))
    client.bye()
    client.close()
    raw.close()
    proto_median, raw_median = statistics.median(proto_ns), statistics.median(raw_ns)
    ratio = statistics.median(pair_ratios)
    return {
        "payload_bytes": size,
        "samples": len(proto_ns),
        "raw_median_us": raw_median / 1e3,
        "protocol_median_us": proto_median / 1e3,
        "target_median_us": statistics.median(target_ns) / 1e3,
        "raw_p90_us": sorted(raw_ns)[int(0.9 * len(raw_ns))] / 1e3,
        "protocol_p90_us": sorted(proto_ns)[int(0.9 * len(proto_ns))] / 1e3,
        "ratio": ratio,
        "ratio_of_run_medians": proto_median / raw_median,
        "block_ratios": [round(r, 4) for r in pair_ratios],
        "target": ROUND_TRIP_TARGET,
        "passed": ratio <= ROUND_TRIP_TARGET,
    }


def measure_upload(
    port_proto: int, port_raw: int, megabytes: float, repeats: int, folder: Path
) -> dict[str, Any]:
    from edgeai_core.builtins.echo import echo_artifact
    from edgeai_core.transports.tcp import TcpStream
    from edgeai_core.wire.client import Client

    size = int(megabytes * 1e6)
    model = folder / "model.bin"
    data = os.urandom(size)
    model.write_bytes(data)
    artifact = echo_artifact(model, [(None, 4)])
    stream = TcpStream(socket.create_connection(("127.0.0.1", port_proto)), f"127.0.0.1:{port_proto}")
    client = Client(stream, timeout_s=60)
    client.hello()
    client.send_iospec(artifact.to_json())
    raw_memory = Raw(port_raw, b"u", size)
    raw_file = Raw(port_raw, b"f", size)
    view = memoryview(data)
    times: dict[str, list[float]] = {"protocol": [], "raw-memory": [], "raw-file": [], "store-only": []}
    client.upload(model)  # warm-up: page cache, file system, connections
    raw_memory.upload(view)
    raw_file.upload(view)
    for repeat in range(repeats):
        sides = ["protocol", "raw-memory", "raw-file", "store-only"]
        if repeat % 2:
            sides.reverse()
        for side in sides:
            if side == "store-only":
                times[side].append(store(folder, view))
            elif side == "protocol":
                start = time.perf_counter()
                stored, _ = client.upload(model)
                times[side].append(time.perf_counter() - start)
                if stored != size:
                    raise BenchError(f"the target stored {stored} of {size} bytes")
            elif side == "raw-memory":
                times[side].append(raw_memory.upload(view))
            else:
                times[side].append(raw_file.upload(view))
    client.bye()
    client.close()
    raw_memory.close()
    raw_file.close()
    rates = {side: size / statistics.median(values) / 1e6 for side, values in times.items()}
    # paired: each protocol upload against the raw-to-file upload measured next to it
    ratio = statistics.median(
        raw / proto for proto, raw in zip(times["protocol"], times["raw-file"], strict=True)
    )
    return {
        "bytes": size,
        "repeats": repeats,
        "protocol_mb_s": rates["protocol"],
        "raw_file_mb_s": rates["raw-file"],
        "raw_memory_mb_s": rates["raw-memory"],
        "store_only_mb_s": rates["store-only"],
        "ratio": ratio,
        "ratio_of_run_medians": rates["protocol"] / rates["raw-file"],
        "ratio_vs_raw_memory": rates["protocol"] / rates["raw-memory"],
        "store_only_vs_raw_memory": rates["store-only"] / rates["raw-memory"],
        "target": UPLOAD_TARGET,
        "passed": ratio >= UPLOAD_TARGET,
        "samples_s": {side: [round(v, 5) for v in values] for side, values in times.items()},
    }


def store(folder: Path, data: memoryview) -> float:
    """Seconds to store ``data`` the way the target does (new file, preallocated, renamed): no network."""
    start = time.perf_counter()
    tmp = folder / "raw" / ".store.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.posix_fallocate(fd, 0, len(data))
    offset = 0
    while offset < len(data):
        offset += os.write(fd, data[offset : offset + (4 << 20)])
    os.close(fd)
    os.replace(tmp, folder / "raw" / "stored.bin")
    return time.perf_counter() - start


def place(placement: str, servers: list[subprocess.Popen[str]]) -> dict[str, Any]:
    """Pin this process and the two servers so that both pairs get the same CPU placement.

    On a small VM the scheduler otherwise decides per run whether client and server share a CPU, and a
    wake-up across CPUs costs a hypervisor round trip: left alone, either side can come out several times
    slower from one run to the next. ``same``: everything on one CPU (the protocol's own cost, stable);
    ``split``: this process on one CPU, both servers on another (a host and a target apart); ``none``.
    """
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if placement == "none" or not cpus or (placement == "split" and len(cpus) < 2):
        return {"placement": "none", "cpus": cpus}
    client_cpu = cpus[0]
    server_cpu = cpus[0] if placement == "same" else cpus[1]
    os.sched_setaffinity(0, {client_cpu})
    for proc in servers:  # every thread that exists now; threads started later inherit it
        for task in os.listdir(f"/proc/{proc.pid}/task"):
            os.sched_setaffinity(int(task), {server_cpu})
    return {"placement": placement, "client_cpu": client_cpu, "server_cpu": server_cpu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--samples", type=int, default=6000, help="round trips per size and side (default 6000)"
    )
    parser.add_argument(
        "--blocks", type=int, default=30, help="interleaved blocks per size and side (default 30)"
    )
    parser.add_argument("--warmup", type=int, default=300, help="warm-up round trips per side (default 300)")
    parser.add_argument("--upload-mb", type=float, default=100.0, help="model size in MB (default 100)")
    parser.add_argument("--uploads", type=int, default=7, help="uploads per side (default 7)")
    parser.add_argument(
        "--placement",
        choices=("same", "split", "none"),
        default="same",
        help="CPU placement of client and servers, the same for both pairs (default: same CPU)",
    )
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the JSON result")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="edgeai-bench-protocol-"))
    procs: list[subprocess.Popen[str]] = []
    try:
        serve_dir, raw_dir = folder / "serve", folder / "raw"
        raw_dir.mkdir()
        cmd = [*edgeai_command(), "serve", "--protocol", "tcp", "--runtime", "echo", "--port", "0",
               "--workdir", str(serve_dir), "--max-model-mb", str(args.upload_mb * 2 + 16)]  # fmt: skip
        proc, line = start(cmd, "edgeai serve")
        procs.append(proc)
        port_proto = int(json.loads(line)["port"])
        proc, line = start([sys.executable, "-c", RAW_SERVER, str(raw_dir)], "the raw TCP server")
        procs.append(proc)
        port_raw = int(line)
        placement = place(args.placement, procs)
        trips = [
            measure_round_trips(port_proto, port_raw, size, args.samples, args.blocks, args.warmup, folder)
            for size in SIZES
        ]
        upload = measure_upload(port_proto, port_raw, args.upload_mb, args.uploads, folder)
    except (BenchError, OSError) as exc:
        print(f"protocol: error: {exc}", file=sys.stderr)
        return 2
    finally:
        for proc in procs:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(folder, ignore_errors=True)

    passed = all(t["passed"] for t in trips) and upload["passed"]
    where = placement["placement"]
    if "client_cpu" in placement:
        where += f" (client on CPU {placement['client_cpu']}, servers on CPU {placement['server_cpu']})"
    print(
        f"protocol: loopback, {args.samples} round trips per size and side, {args.blocks} interleaved blocks, "
        f"placement {where}"
    )
    print(
        f"{'payload':>9} {'raw us':>9} {'edgeai us':>10} {'target us':>10} {'ratio':>7} {'limit':>6}  (ratio: median"
    )
    print(f"{'':>58}of per-block ratios)")
    for t in trips:
        mark = "PASS" if t["passed"] else "FAIL"
        limit = "<=" + str(ROUND_TRIP_TARGET)
        print(
            f"{t['payload_bytes']:>9} {t['raw_median_us']:>9.1f} {t['protocol_median_us']:>10.1f} "
            f"{t['target_median_us']:>10.2f} {t['ratio']:>7.2f} {limit:>6} {mark}"
        )
    print(
        f"upload {upload['bytes'] / 1e6:g} MB ({upload['repeats']} each, median MB/s): edgeai "
        f"{upload['protocol_mb_s']:.0f}, raw TCP to a file {upload['raw_file_mb_s']:.0f}, raw TCP to memory "
        f"{upload['raw_memory_mb_s']:.0f}, storing alone (no network) {upload['store_only_mb_s']:.0f}"
    )
    verdict = "PASS" if upload["passed"] else "FAIL"
    print(
        f"  ratio to raw-to-file {upload['ratio']:.2f} (>= {UPLOAD_TARGET}) {verdict}; "
        f"to raw-to-memory {upload['ratio_vs_raw_memory']:.2f} "
        f"(storing alone reaches {upload['store_only_vs_raw_memory']:.2f} of it)"
    )
    result = {
        "benchmark": "protocol",
        "placement": placement,
        "round_trips": trips,
        "upload": upload,
        "passed": passed,
        **environment(),
        "cpus": os.cpu_count(),
    }
    return write_result(args.json, result, passed)


if __name__ == "__main__":
    sys.exit(main())
