"""Registration of edgeai-ray (entry point ``ray`` in the ``edgeai`` group). Imports nothing of Ray."""

from __future__ import annotations

from edgeai_core.api import ExecutorRecord, Param, hookimpl


@hookimpl
def edgeai_register_executors() -> list[ExecutorRecord]:
    return [
        ExecutorRecord(
            name="ray",
            summary="A Ray cluster: each run is a task on the node that holds its device (resource device:NAME)",
            factory="edgeai_ray.executor:RayExecutor",
            install="edgeai-ray",
            params=(
                Param(
                    "address",
                    "str",
                    default=None,
                    help="the cluster's address (HOST:PORT of `ray start --head`); default: RAY_ADDRESS",
                ),
                Param(
                    "local_cluster",
                    "bool",
                    default=False,
                    help="no cluster given: start a private one on this machine for this sweep (loopback only)",
                ),
                Param(
                    "retries",
                    "int",
                    default=1,
                    minimum=0,
                    help="times a job is started again when the process running it dies (node lost, killed)",
                ),
                Param(
                    "compile_cpus",
                    "float",
                    default=1.0,
                    minimum=0.0,
                    help="CPUs a compile job asks for (runs ask for none: they hold their device instead)",
                ),
                Param(
                    "node_ip",
                    "str",
                    default=None,
                    help="the address this driver's Ray node uses (local_cluster default 127.0.0.2: Ray rewrites "
                    "127.0.0.1 to the machine's network address, other loopback addresses stay on loopback)",
                ),
            ),
        )
    ]
