"""Shared fixtures of the edgeai-datasets tests: a plugin host, a dataset builder and a local HTTP server."""

from __future__ import annotations

import io
import re
import socket
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeai_core.components import Context
from edgeai_core.plugins import PluginHost


@pytest.fixture
def host(first_party_host: Any) -> PluginHost:
    """A fresh plugin host with the core's built-ins and edgeai-datasets, registered in-process."""
    host: PluginHost = first_party_host("datasets")
    return host


@pytest.fixture
def make(host: PluginHost, tmp_path: Path) -> Callable[..., Any]:
    """``make("digits", seed=1, image_size=16)``: build a dataset with its parameters validated."""

    def build(name: str, *, seed: int = 0, **params: Any) -> Any:
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        record = host.get("dataset", name)
        return record.create(params, where="dataset", context=Context(workdir=workdir, seed=seed))

    return build


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    import edgeai_datasets.download

    monkeypatch.setattr(edgeai_datasets.download, "RETRY_DELAY_S", 0.0)


# -- a local HTTP server that understands Range requests --------------------------------------------


@dataclass
class FileServer:
    """Serves ``files`` (name -> bytes) at ``url``; records every request as (path, Range header)."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    #: name -> byte count: the next response for that file sends this many body bytes, then drops the connection
    cut_after: dict[str, int] = field(default_factory=dict)
    honour_range: bool = True

    def requests_for(self, name: str) -> list[str | None]:
        return [rng for path, rng in self.requests if path == "/" + name]


class _Handler(BaseHTTPRequestHandler):
    state: FileServer

    def do_GET(self) -> None:
        state = self.state
        name = self.path.lstrip("/")
        state.requests.append((self.path, self.headers.get("Range")))
        data = state.files.get(name)
        if data is None:
            self.send_error(404, "Not Found")
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and state.honour_range:
            match = re.fullmatch(r"bytes=(\d+)-", wanted)
            assert match, wanted
            start = int(match[1])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        cut = state.cut_after.pop(name, None)
        if cut is None:
            self.wfile.write(body)
            return
        self.wfile.write(body[:cut])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server() -> Iterator[FileServer]:
    state = FileServer(url="")
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# -- generated data in the real layouts ---------------------------------------------------------------

#: One colour per class; generated images are this colour plus noise.
COLOURS = [(220, 30, 30), (30, 200, 40), (40, 50, 210), (200, 200, 30)]


def noisy_image(colour: tuple[int, int, int], size: tuple[int, int], seed: int) -> Any:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = np.asarray(colour, np.int16) + rng.integers(-20, 21, size=(size[1], size[0], 3))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def tar_bytes(members: dict[str, bytes]) -> bytes:
    """A .tar.gz holding ``members`` (name -> content)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


PET_BREEDS = ("Abyssinian", "Bengal", "american_bulldog")


def pets_archives(per_breed: int = 6) -> tuple[dict[str, bytes], dict[str, int]]:
    """``images.tar.gz`` and ``annotations.tar.gz`` in the real Oxford-IIIT Pet layout.

    Returns the archives and, per image name, its breed's position in :data:`PET_BREEDS` (= its CLASS-ID - 1).
    Breed i's images have colour ``COLOURS[i]``.
    """
    images: dict[str, bytes] = {}
    lines = [
        "#Image CLASS-ID SPECIES BREED ID",
        "#ID: 1:37 Class ids",
        "#SPECIES: 1:Cat 2:Dog",
        "#BREED ID: 1-25:Cat 1:12:Dog",
        "#All images with 1st letter as captial are cat images",
        "#images with small first letter are dog images",
    ]
    labels: dict[str, int] = {}
    for class_index, breed in enumerate(PET_BREEDS):
        species = 1 if breed[0].isupper() else 2
        for n in range(1, per_breed + 1):
            name = f"{breed}_{100 + n}"
            buffer = io.BytesIO()
            noisy_image(COLOURS[class_index], (40 + n, 30 + 2 * n), seed=class_index * 100 + n).save(
                buffer, "JPEG", quality=90
            )
            images[f"images/{name}.jpg"] = buffer.getvalue()
            lines.append(f"{name} {class_index + 1} {species} {class_index + 1}")
            labels[name] = class_index
    # a file that list.txt does not name (the real archive has some): it must be ignored
    images["images/unlisted_1.jpg"] = images["images/Abyssinian_101.jpg"]
    annotations = {"annotations/list.txt": ("\n".join(lines) + "\n").encode()}
    return {"images.tar.gz": tar_bytes(images), "annotations.tar.gz": tar_bytes(annotations)}, labels


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """``array`` (uint8) in the IDX format with the given magic number."""
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def mnist_arrays(train: int = 40, test: int = 20, size: int = 28) -> dict[str, np.ndarray]:
    """Small MNIST-like arrays: label l is a bright block whose value encodes l (pixel 20 * l + 30)."""
    arrays = {}
    for prefix, count in (("train", train), ("t10k", test)):
        labels = (np.arange(count) % 10).astype(np.uint8)
        images = np.zeros((count, size, size), np.uint8)
        for i, label in enumerate(labels):
            images[i, 4:-4, 4:-4] = 20 * label + 30
        arrays[f"{prefix}-images-idx3-ubyte"] = images
        arrays[f"{prefix}-labels-idx1-ubyte"] = labels
    return arrays


def mnist_files(**kwargs: int) -> dict[str, bytes]:
    """The four IDX files, raw (no .gz), keyed by their uncompressed names."""
    return {
        name: idx_bytes(array, 0x00000803 if "images" in name else 0x00000801)
        for name, array in mnist_arrays(**kwargs).items()
    }


#: what the ``gen`` fixture carries
GENERATORS = (
    "COLOURS", "PET_BREEDS", "noisy_image", "tar_bytes", "pets_archives", "idx_bytes", "mnist_arrays",
    "mnist_files",
)  # fmt: skip


@pytest.fixture
def gen() -> SimpleNamespace:
    """The data generators above (test modules cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(**{name: globals()[name] for name in GENERATORS})
