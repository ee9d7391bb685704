"""CurveZMQ keys: the one place both ends read them, so remote daemons need a key pair.

A daemon that listens beyond loopback encrypts and authenticates every connection with
CurveZMQ. Keys are ZeroMQ certificate files (``zmq.auth`` format):

* ``void-daemon keys --dir DIR --name server`` writes ``server.key`` (public, give it to the
  artists) and ``server.key_secret`` (keep it on the daemon host, mode 0600);
* each client gets its own pair the same way; its ``.key`` goes into the daemon's
  authorized-keys folder, and unknown client keys are refused by the daemon's ZAP handler.

Clients find their keys through the environment, so every host (Nuke, Resolve, the CLI, a
farm task) is configured the same way:

* ``VOID_CURVE_SERVER_KEY`` — the daemon's public key: a certificate file or the 40-character z85 text;
* ``VOID_CURVE_CLIENT_KEY`` — this client's secret certificate file (``*.key_secret``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import zmq

from void_client.errors import ErrorCode, VoidError

SERVER_KEY_ENV = "VOID_CURVE_SERVER_KEY"
CLIENT_KEY_ENV = "VOID_CURVE_CLIENT_KEY"
Z85_KEY_LENGTH = 40


@dataclass(frozen=True)
class CurveKeys:
    """One side's CurveZMQ material (z85 bytes). ``server_public`` is only set on clients."""

    public: bytes
    secret: bytes
    server_public: bytes = b""


def generate(directory: str | os.PathLike, name: str) -> tuple[Path, Path]:
    """Write ``name.key`` (public) and ``name.key_secret`` (secret, mode 0600) into ``directory``."""
    import zmq.auth

    folder = Path(directory).expanduser()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    public, secret = zmq.auth.create_certificates(str(folder), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_public_key(value: str) -> bytes:
    """A public key from a certificate file or from its z85 text."""
    import zmq.auth

    text = value.strip()
    if len(text) == Z85_KEY_LENGTH and not os.path.exists(text):
        key = text.encode("ascii")
    else:
        try:
            key, _ = zmq.auth.load_certificate(os.path.expanduser(text))
        except (OSError, ValueError) as exc:
            raise VoidError(
                ErrorCode.BAD_SPEC,
                f"cannot read a CurveZMQ public key from {value!r}: {exc}",
                "curve",
            ) from exc
    _check_z85(key, value)
    return key


def load_secret_keys(path: str | os.PathLike) -> CurveKeys:
    """Public and secret key from a ``*.key_secret`` certificate file."""
    import zmq.auth

    try:
        public, secret = zmq.auth.load_certificate(os.path.expanduser(os.fspath(path)))
    except (OSError, ValueError) as exc:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"cannot read a CurveZMQ key pair from {path}: {exc}", "curve"
        ) from exc
    if not secret:
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"{path} holds only a public key; pass the .key_secret file",
            "curve",
        )
    _check_z85(public, path)
    _check_z85(secret, path)
    return CurveKeys(public, secret)


def _check_z85(key: bytes, where: object) -> None:
    try:
        ok = len(key) == Z85_KEY_LENGTH and len(zmq.utils.z85.decode(key)) == 32
    except Exception:  # z85 raises several types on garbage
        ok = False
    if not ok:
        raise VoidError(
            ErrorCode.BAD_SPEC, f"{where}: not a CurveZMQ key (40 z85 characters)", "curve"
        )


def client_keys_from_env() -> CurveKeys | None:
    """The client's Curve configuration, or None when the daemon is reached without encryption."""
    server = os.environ.get(SERVER_KEY_ENV, "")
    client = os.environ.get(CLIENT_KEY_ENV, "")
    if not server and not client:
        return None
    if not (server and client):
        raise VoidError(
            ErrorCode.BAD_SPEC,
            f"set both {SERVER_KEY_ENV} (the daemon's public key) and {CLIENT_KEY_ENV} (this client's .key_secret file) "
            "to reach a daemon over CurveZMQ",
            "curve",
        )
    mine = load_secret_keys(client)
    return CurveKeys(mine.public, mine.secret, load_public_key(server))


def apply_client(sock: zmq.Socket, keys: CurveKeys) -> None:
    """Make ``sock`` a CurveZMQ client of the server whose public key is in ``keys``. Before connect."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_serverkey = keys.server_public


def apply_server(sock: zmq.Socket, keys: CurveKeys) -> None:
    """Make ``sock`` a CurveZMQ server. Before bind."""
    sock.curve_secretkey = keys.secret
    sock.curve_publickey = keys.public
    sock.curve_server = True
