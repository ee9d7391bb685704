"""Strangers get no service: CurveZMQ with a ZAP allow-list, jobs owned by keys, private files
and sockets, and path mode confined to the configured roots (see docs/security.md)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.support.daemons import FaultyDaemon, free_port
from void_client import protocol as P
from void_client.client import DaemonClient
from void_client.curvezmq import (
    CLIENT_KEY_ENV,
    SERVER_KEY_ENV,
    CurveKeys,
    client_keys_from_env,
    load_public_key,
    load_secret_keys,
)
from void_client.errors import ErrorCode, VoidError
from void_client.job_spec import JobSpec
from void_client.quadmask import build_quadmask, hole
from void_client.sequence import SequencePattern, read_image
from void_client.sequence_job import RemoveRequest, SequenceJob
from void_client.session import JobSession
from void_daemon.demo_shot import make_shot, write_shot
from void_daemon.roi import composite_alpha


def daemon_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "void_daemon", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """server, alice and bob (authorized), mallory (not) — made by ``void-daemon keys``."""
    root = tmp_path_factory.mktemp("keys")
    for name in ("server", "alice", "bob", "mallory"):
        r = daemon_cli("keys", "--dir", str(root / name), "--name", name)
        assert r.returncode == 0, r.stderr
    authorized = root / "authorized"
    authorized.mkdir()
    for name in ("alice", "bob"):
        (authorized / f"{name}.key").write_bytes((root / name / f"{name}.key").read_bytes())
    return {
        "root": root,
        "authorized": authorized,
        **{n: root / n / f"{n}.key" for n in ("server", "alice", "bob", "mallory")},
    }


def client_keys(keys: dict[str, Path], who: str, server: str = "server") -> CurveKeys:
    mine = load_secret_keys(str(keys[who]) + "_secret")
    return CurveKeys(mine.public, mine.secret, load_public_key(str(keys[server])))


@pytest.fixture(scope="module")
def curve_daemon(keys: dict[str, Path], tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    d = FaultyDaemon(
        tmp_path_factory.mktemp("curve") / "jobs",
        extra=[
            "--curve-secret-key",
            str(keys["server"]) + "_secret",
            "--curve-authorized-keys",
            str(keys["authorized"]),
        ],
    ).start(keys=client_keys(keys, "alice"))
    yield d
    d.stop()


def test_keys_command_writes_a_pair_whose_secret_is_private(keys: dict[str, Path]) -> None:
    public, secret = keys["server"], Path(str(keys["server"]) + "_secret")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert "secret-key" not in public.read_text() and "secret-key" in secret.read_text()
    assert load_secret_keys(secret).public == load_public_key(str(public))


def test_only_authorized_client_keys_get_service(
    keys: dict[str, Path], curve_daemon: FaultyDaemon, tmp_path: Path
) -> None:
    ep = curve_daemon.endpoint
    with DaemonClient(ep, curve=client_keys(keys, "alice")) as c:
        assert c.hello(timeout=5).daemon_version
    for who, curve in (
        ("a plain client", False),
        ("an unknown key", client_keys(keys, "mallory")),
        (
            "an authorized key that trusts the wrong server key",
            client_keys(keys, "alice", server="mallory"),
        ),
    ):
        with DaemonClient(ep, curve=curve) as c:
            with pytest.raises(VoidError) as err:
                c.hello(timeout=1.0)
            assert err.value.code == ErrorCode.DAEMON_UNREACHABLE, who
    # A whole job over the encrypted link, pixels included.
    shot = make_shot(frames=5, width=32, height=24, seed=5)
    paths = write_shot(shot, str(tmp_path / "shot"))
    seq = SequenceJob(
        RemoveRequest(
            paths["plate"],
            paths["remove"],
            str(tmp_path / "o.####.exr"),
            settings={"window": 13, "overlap": 4},
        )
    )
    got: dict[int, np.ndarray] = {}
    with DaemonClient(ep, curve=client_keys(keys, "bob")) as c:
        JobSession(c, seq.job_spec(), seq.read_frame, lambda f, px: got.__setitem__(f, px)).run()
    assert sorted(got) == shot.frames


def test_client_keys_come_from_the_environment(
    keys: dict[str, Path], curve_daemon: FaultyDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SERVER_KEY_ENV, str(keys["server"]))
    monkeypatch.setenv(CLIENT_KEY_ENV, str(keys["alice"]) + "_secret")
    with DaemonClient(curve_daemon.endpoint) as c:  # no keys passed: read from the environment
        assert c.hello(timeout=5).daemon_version
    # The server key may also be given as its 40-character z85 text.
    monkeypatch.setenv(SERVER_KEY_ENV, load_public_key(str(keys["server"])).decode())
    assert client_keys_from_env() == client_keys(keys, "alice")
    monkeypatch.delenv(CLIENT_KEY_ENV)
    with pytest.raises(VoidError) as err:
        client_keys_from_env()
    assert CLIENT_KEY_ENV in err.value.message


def test_jobs_belong_to_the_key_that_submitted_them(
    keys: dict[str, Path], curve_daemon: FaultyDaemon
) -> None:
    ep = curve_daemon.endpoint
    spec = JobSpec(frames=[1, 2, 3], width=16, height=12, window=13, overlap=4)
    with (
        DaemonClient(ep, curve=client_keys(keys, "alice")) as alice,
        DaemonClient(ep, curve=client_keys(keys, "bob")) as bob,
    ):
        job = alice.submit(spec).job
        assert [j["job"] for j in alice.status()] == [job]
        assert job not in [j["job"] for j in bob.status()]
        for attempt in (lambda: bob.status(job), lambda: bob.cancel(job), lambda: bob.attach(job)):
            with pytest.raises(VoidError) as err:
                attempt()
            assert (
                err.value.code == ErrorCode.UNKNOWN_JOB
            )  # indistinguishable from a job that does not exist
        # Frames and acks from another key are refused too, and do not touch the job.
        img = np.zeros((12, 16, 4), np.float16)
        bob.send_frames(job, images=[(P.ImageDesc.for_array(1, "plate", img), img)])
        err_msg = bob.recv(5)
        assert isinstance(err_msg, P.Error) and err_msg.code == "unknown_job"
        assert (
            alice.status(job)[0]["frames_received"] == 0
            and alice.status(job)[0]["state"] == "queued"
        )
        alice.cancel(job)
        assert alice.status(job)[0]["state"] == "cancelled"


def test_non_loopback_bind_is_refused_without_curve_and_served_with_it(
    keys: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    r = daemon_cli(
        "serve", "--endpoint", f"tcp://0.0.0.0:{port}", "--jobs-dir", str(tmp_path / "jobs")
    )
    assert r.returncode == 2 and "needs CurveZMQ" in r.stderr
    r = daemon_cli(
        "serve",
        "--endpoint",
        f"tcp://127.0.0.1:{port}",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--curve-secret-key",
        str(keys["server"]),
        "--curve-authorized-keys",
        str(keys["authorized"]),
    )
    assert r.returncode == 2 and "only a public key" in r.stderr  # the public file is not enough
    r = daemon_cli(
        "serve",
        "--endpoint",
        f"tcp://127.0.0.1:{port}",
        "--jobs-dir",
        str(tmp_path / "jobs"),
        "--curve-secret-key",
        str(keys["server"]) + "_secret",
        "--curve-authorized-keys",
        str(tmp_path),
    )
    assert r.returncode == 2 and "authorized-keys" in r.stderr  # an allow-list with nobody on it
    d = FaultyDaemon(
        tmp_path / "jobs",
        endpoint=f"tcp://127.0.0.1:{port}",  # what clients dial
        extra=[
            "--curve-secret-key",
            str(keys["server"]) + "_secret",
            "--curve-authorized-keys",
            str(keys["authorized"]),
        ],
    )
    d.bind = f"tcp://0.0.0.0:{port}"  # type: ignore[attr-defined]  # every interface
    try:
        d.start(keys=client_keys(keys, "alice"))
        with DaemonClient(d.endpoint, curve=False) as c, pytest.raises(VoidError):
            c.hello(timeout=1.0)
    finally:
        d.stop()


def test_ipc_socket_and_job_folders_are_private(tmp_path: Path) -> None:
    sock = tmp_path / "void.sock"
    jobs = tmp_path / "jobs"
    d = FaultyDaemon(jobs, endpoint=f"ipc://{sock}").start()
    try:
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert stat.S_IMODE(jobs.stat().st_mode) == 0o700
        with DaemonClient(d.endpoint) as c:
            job = c.submit(JobSpec(frames=[1], width=8, height=8)).job
            c.cancel(job)
        for folder in (jobs / job, jobs / job / "in", jobs / job / "out"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        # Another user cannot even connect: the kernel checks the socket file's permission.
        if os.geteuid() == 0 and os.path.exists("/usr/bin/python3"):
            probe = "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])"
            for p in (
                tmp_path,
                *tmp_path.parents,
            ):  # let the other user reach the folder: only the socket's mode decides
                if p != Path("/"):
                    p.chmod(p.stat().st_mode | 0o711)
            r = subprocess.run(
                ["/usr/bin/python3", "-c", probe, str(sock)],
                capture_output=True,
                text=True,
                user=65534,
                group=65534,
                timeout=30,
                cwd="/",
            )
            assert r.returncode != 0 and "PermissionError" in r.stderr, r.stderr
    finally:
        d.stop()


# ----------------------------------------------------------------------------- path mode


def test_path_mode_is_off_unless_roots_are_configured(daemon, tmp_path: Path) -> None:
    spec = JobSpec(
        frames=[1], width=8, height=8, transfer="paths", out_pattern=str(tmp_path / "o.####.exr")
    )
    with DaemonClient(daemon.endpoint) as c, pytest.raises(VoidError) as err:
        c.submit(spec)
    assert err.value.code == ErrorCode.PATH_NOT_ALLOWED and "--allow-root" in err.value.message


def test_path_mode_inside_a_root_reads_and_writes_there_and_nowhere_else(tmp_path: Path) -> None:
    root = tmp_path / "show"
    shot = make_shot(frames=5, width=48, height=32, seed=12)
    files = write_shot(shot, str(root / "plates"))
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "blocker").write_text("a file, not a folder")
    d = FaultyDaemon(tmp_path / "jobs", extra=["--allow-root", str(root)]).start()
    out = root / "renders" / "clean.####.exr"
    try:
        with DaemonClient(d.endpoint) as c:
            for bad_out, code in (
                (root / "escape" / "o.####.exr", ErrorCode.PATH_NOT_ALLOWED),
                (root / "blocker" / "o.####.exr", ErrorCode.IO_ERROR),
            ):
                with pytest.raises(VoidError) as err:
                    c.submit(
                        JobSpec(
                            frames=shot.frames,
                            width=48,
                            height=32,
                            transfer="paths",
                            out_pattern=str(bad_out),
                        )
                    )
                assert err.value.code == code, bad_out
            ack = c.submit(
                JobSpec(
                    frames=shot.frames,
                    width=48,
                    height=32,
                    window=13,
                    overlap=4,
                    dilation=3,
                    transfer="paths",
                    out_pattern=str(out),
                )
            )
            pat = {k: SequencePattern.parse(v) for k, v in files.items()}
            entries = [
                {
                    "frame": f,
                    "plate": pat["plate"].path(f),
                    "remove": pat["remove"].path(f),
                    "affected": pat["affected"].path(f),
                }
                for f in shot.frames
            ]
            c.send_frames(ack.job, paths=entries)
            written: dict[int, str] = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                msg = c.recv(10)
                assert msg is not None and not isinstance(msg, P.Error), msg
                if isinstance(msg, P.Result):
                    written.update({p["frame"]: p["path"] for p in msg.paths})
                if isinstance(msg, P.Progress) and msg.stage == "done":
                    break
        assert sorted(written) == shot.frames
        assert all(Path(p).parent == out.parent for p in written.values())
        assert not any(outside.iterdir())
        for i, f in enumerate(shot.frames):
            res, src = read_image(written[f]), read_image(pat["plate"].path(f))
            assert res.channels == src.channels and res.pixels.dtype == src.pixels.dtype
            outside_hole = (
                composite_alpha(hole(build_quadmask(shot.remove[i], shot.affected[i], 3)), 6) == 0
            )
            assert res.pixels[outside_hole].tobytes() == src.pixels[outside_hole].tobytes()
    finally:
        d.stop()
