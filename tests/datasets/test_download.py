"""The download machinery against a local HTTP server, and safe tar extraction."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from edgeai_core.errors import DatasetError, ParameterError
from edgeai_core.progress import Progress
from edgeai_datasets.download import (
    checksums_for,
    extract_tar,
    extraction_marker,
    fetch,
    parse_checksum,
    verify,
)


def _payload(size: int = 300_000) -> bytes:
    return np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8).tobytes()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Recorder(Progress):
    def __init__(self) -> None:
        self.updates: list[tuple[float, float | None]] = []

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self.updates.append((done, total))


def test_fetch_downloads_verifies_and_reports_progress(server: Any, tmp_path: Path) -> None:
    data = _payload(3 * (1 << 20) + 5)
    server.files["blob.bin"] = data
    progress = Recorder()
    target = fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=_sha256(data), progress=progress)
    assert target.read_bytes() == data
    assert not (tmp_path / "blob.bin.part").exists()
    assert progress.updates[-1] == (len(data), len(data))
    assert len(progress.updates) >= 4
    assert server.requests_for("blob.bin") == [None]
    # present already: nothing is fetched again
    fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=_sha256(data))
    assert len(server.requests) == 1


def test_an_interrupted_download_resumes_with_a_range_request(server: Any, tmp_path: Path) -> None:
    data = _payload()
    server.files["blob.bin"] = data
    server.cut_after["blob.bin"] = 100_000
    target = fetch(
        server.url + "blob.bin", tmp_path / "blob.bin", checksum="md5:" + hashlib.md5(data).hexdigest()
    )
    assert server.requests_for("blob.bin") == [None, "bytes=100000-"]
    assert target.read_bytes() == data


def test_a_part_file_from_an_earlier_run_is_resumed(server: Any, tmp_path: Path) -> None:
    data = _payload()
    server.files["blob.bin"] = data
    (tmp_path / "blob.bin.part").write_bytes(data[:1234])
    fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=_sha256(data))
    assert server.requests_for("blob.bin") == ["bytes=1234-"]
    assert (tmp_path / "blob.bin").read_bytes() == data


def test_a_complete_part_file_is_accepted_after_416(server: Any, tmp_path: Path) -> None:
    data = _payload(1000)
    server.files["blob.bin"] = data
    (tmp_path / "blob.bin.part").write_bytes(data)
    fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=_sha256(data))
    assert server.requests_for("blob.bin") == ["bytes=1000-"]
    assert (tmp_path / "blob.bin").read_bytes() == data


def test_a_server_ignoring_range_means_starting_over(server: Any, tmp_path: Path) -> None:
    data = _payload()
    server.files["blob.bin"] = data
    server.honour_range = False
    server.cut_after["blob.bin"] = 50_000
    fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=_sha256(data))
    assert server.requests_for("blob.bin") == [None, "bytes=50000-"]
    assert (tmp_path / "blob.bin").read_bytes() == data, "not the first 50000 bytes twice"


def test_a_checksum_mismatch_deletes_the_download(server: Any, tmp_path: Path) -> None:
    data = _payload(5000)
    server.files["blob.bin"] = data
    wrong = "sha256:" + "ab" * 32
    with pytest.raises(DatasetError) as err:
        fetch(server.url + "blob.bin", tmp_path / "blob.bin", checksum=wrong)
    message = str(err.value)
    assert server.url + "blob.bin" in message
    assert "expected " + wrong in message and "got " + _sha256(data) in message
    assert not (tmp_path / "blob.bin").exists() and not (tmp_path / "blob.bin.part").exists()


def test_http_errors_name_the_url(server: Any, tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=r"download of http://127\.0\.0\.1:\d+/absent\.bin failed: HTTP 404"
    ):
        fetch(server.url + "absent.bin", tmp_path / "absent.bin")
    assert not (tmp_path / "absent.bin").exists()


def test_an_unreachable_server_gives_up_after_the_attempts(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match=r"failed after 2 attempts .*cannot reach the server"):
        fetch(f"http://127.0.0.1:{port}/x.bin", tmp_path / "x.bin", attempts=2, timeout=5)


def test_checksum_syntax_is_checked() -> None:
    assert parse_checksum("md5:" + "A" * 32) == ("md5", "a" * 32)
    with pytest.raises(ParameterError, match="must look like 'sha256:<hex>'"):
        parse_checksum("5c4f3ee8e5d25df40f4fd59a7f44e54c")
    with pytest.raises(ParameterError, match="a sha256 digest has 64 hex digits, got 3"):
        parse_checksum("sha256:abc")
    with pytest.raises(ParameterError, match=r"dataset\.checksums\.other\.tar: no such file"):
        checksums_for({"other.tar": None}, {"a.tar": "md5:" + "0" * 32})
    assert checksums_for({}, {"a.tar": "md5:" + "0" * 32}) == {"a.tar": None}
    assert checksums_for(None, {"a.tar": "md5:" + "0" * 32}) == {"a.tar": "md5:" + "0" * 32}


def test_verify_names_both_digests(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"hello")
    verify(path, _sha256(b"hello"))
    verify(path, None)
    with pytest.raises(
        DatasetError,
        match=rf"f\.bin is corrupt .*expected md5:0+, got md5:{hashlib.md5(b'hello').hexdigest()}",
    ):
        verify(path, "md5:" + "0" * 32)


# -- extraction ---------------------------------------------------------------------------------------


def _tar(path: Path, build: Any) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        build(tar)
    return path


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"x", **attrs: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in attrs.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data) if info.isfile() else None)


def test_extraction_is_idempotent(tmp_path: Path, gen: SimpleNamespace) -> None:
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(gen.tar_bytes({"top/one.txt": b"1", "top/sub/two.txt": b"2"}))
    dest = tmp_path / "out"
    extract_tar(archive, dest)
    assert (dest / "top" / "sub" / "two.txt").read_bytes() == b"2"
    assert extraction_marker(archive, dest).exists()
    (dest / "top" / "one.txt").write_bytes(b"changed")
    extract_tar(archive, dest)  # the marker says it is done
    assert (dest / "top" / "one.txt").read_bytes() == b"changed"


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ({"name": "../evil.txt"}, "path with '..'"),
        ({"name": "ok/../../evil.txt"}, "path with '..'"),
        ({"name": "/tmp/evil.txt"}, "absolute path"),
        (
            {"name": "link", "type": tarfile.SYMTYPE, "linkname": "/etc/passwd"},
            "symbolic link to '/etc/passwd'",
        ),
        ({"name": "d/link", "type": tarfile.SYMTYPE, "linkname": "../../outside"}, "symbolic link"),
        ({"name": "d/alias", "type": tarfile.SYMTYPE, "linkname": "fine.txt"}, "symbolic link to 'fine.txt'"),
        ({"name": "hard", "type": tarfile.LNKTYPE, "linkname": "../outside"}, "hard link"),
        ({"name": "hard", "type": tarfile.LNKTYPE, "linkname": "fine.txt"}, "hard link to 'fine.txt'"),
        ({"name": "dev", "type": tarfile.CHRTYPE}, "device, FIFO or other special file"),
        ({"name": "fifo", "type": tarfile.FIFOTYPE}, "device, FIFO or other special file"),
        ({"name": "C:evil.txt"}, "absolute path"),
    ],
)
def test_unsafe_members_are_refused(tmp_path: Path, member: dict[str, Any], reason: str) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _add(tar, "fine.txt", b"fine")
        name = member.pop("name")
        _add(tar, name, b"" if "type" in member else b"evil", **member)

    archive = _tar(tmp_path / "bad.tar.gz", build)
    dest = tmp_path / "deep" / "out"
    with pytest.raises(DatasetError, match=rf"refusing to extract member .*\({reason}"):
        extract_tar(archive, dest)
    assert not extraction_marker(archive, dest).exists()
    assert not (tmp_path / "deep" / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()
    assert {p.name for p in dest.rglob("*")} <= {"fine.txt"}


def _path_max_escape(tar: tarfile.TarFile) -> None:
    """The PATH_MAX trick: long folders reached through one-letter links, so the resolved path of a deep link
    passes PATH_MAX and path resolution stops checking; then a link that climbs out and a file through it."""
    long = "d" * 247
    steps = "abcdefghijklmnop"
    path = ""
    for step in steps:
        _add(tar, f"{path}{long}", b"", type=tarfile.DIRTYPE, mode=0o755)
        _add(tar, f"{path}{step}", b"", type=tarfile.SYMTYPE, linkname=long)
        path += f"{long}/"
    deep = "/".join(steps)
    _add(tar, f"{deep}/{'l' * 254}", b"", type=tarfile.SYMTYPE, linkname="../" * len(steps))
    _add(tar, "escape", b"", type=tarfile.SYMTYPE, linkname=f"{deep}/{'l' * 254}/../..")
    _add(tar, "escape/evil.txt", b"evil")


def test_the_path_max_link_trick_writes_nothing_outside(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "trick.tar", _path_max_escape)
    dest = tmp_path / "a" / "b" / "out"
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(DatasetError, match=r"refusing to extract member 'a' \(symbolic link"):
        extract_tar(archive, dest)
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(dest in p.parents or p == dest for p in created if p not in dest.parents), created
    assert not any(p.is_symlink() for p in dest.rglob("*")), "no link is ever created"
    assert not list(tmp_path.rglob("evil.txt"))
    assert not extraction_marker(archive, dest).exists()


def test_a_link_already_in_the_target_folder_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "out"
    dest.mkdir()
    (dest / "data").symlink_to(outside)  # left by an earlier, unsafe extraction or planted by someone
    (dest / "file.txt").symlink_to(outside / "victim.txt")

    def through_folder(tar: tarfile.TarFile) -> None:
        _add(tar, "data/x.txt", b"evil")

    archive = _tar(tmp_path / "a.tar", through_folder)
    with pytest.raises(DatasetError, match=r"a\.tar: cannot extract it"):
        extract_tar(archive, dest)

    def onto_file(tar: tarfile.TarFile) -> None:
        _add(tar, "file.txt", b"evil")

    archive = _tar(tmp_path / "b.tar", onto_file)
    with pytest.raises(DatasetError, match=r"b\.tar: cannot extract it"):
        extract_tar(archive, dest)
    assert not list(outside.iterdir()), "nothing was written through a link"


def test_regular_members_keep_their_content_and_lose_special_bits(tmp_path: Path) -> None:
    def build(tar: tarfile.TarFile) -> None:
        _add(tar, "./top/", b"", type=tarfile.DIRTYPE, mode=0o777)
        _add(tar, "./top/run.sh", b"#!/bin/sh\n", mode=0o4777)
        _add(tar, "top/data.bin", bytes(range(256)) * 4000, mode=0o666)

    archive = _tar(tmp_path / "ok.tar.gz", build)
    extract_tar(archive, tmp_path / "out")
    top = tmp_path / "out" / "top"
    assert (top / "data.bin").read_bytes() == bytes(range(256)) * 4000
    assert (top / "run.sh").stat().st_mode & 0o7777 == 0o755
    assert (top / "data.bin").stat().st_mode & 0o7777 == 0o644


def test_a_corrupt_archive_says_to_delete_it(tmp_path: Path) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    with pytest.raises(DatasetError, match=r"broken\.tar\.gz: cannot extract it .*delete it") as err:
        extract_tar(archive, tmp_path / "out")
    assert "\n" not in str(err.value)
