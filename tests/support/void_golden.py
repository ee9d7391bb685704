"""Shared by ``bench/void_parity.py`` (which writes them) and the decode-parity test (which reads
them): where the reference's golden decoded frames live and how they are tied to the tiny VAE."""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

#: The reference's decoded frames and the latents they come from (see the .json beside it).
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "void_decode_golden.npz"
GOLDEN_META = GOLDEN.with_suffix(".json")


def vae_checksum(vae: torch.nn.Module) -> str:
    """sha256 of the VAE's float32 parameters in key order: ties the golden arrays to the weights."""
    digest = hashlib.sha256()
    for key, value in sorted(vae.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().float().contiguous().numpy().tobytes())
    return digest.hexdigest()
