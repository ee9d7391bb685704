"""A tiny, randomly initialised VOID in the real weights layout, built offline for tests and benches.

``write_tiny_weights(root)`` writes::

    root/CogVideoX-Fun-V1.5-5b-InP/{transformer,vae,text_encoder,tokenizer,scheduler}/...
    root/void_pass1.safetensors
    root/void_pass2.safetensors      (unless pass2=False)

exactly as the real release is laid out: the base transformer has 33 input channels
(noise | 1 mask channel | video) and ``add_noise_in_inpaint_model`` in its config, the VOID
checkpoints are 48-channel transformer state dicts, the tokenizer is a SentencePiece
``spiece.model`` trained here on a few sentences, and the scheduler config is CogVideoX-Fun's.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from safetensors.torch import save_file
from transformers import T5Config, T5EncoderModel

BASE = "CogVideoX-Fun-V1.5-5b-InP"
LATENT_CHANNELS = 16
TEXT_DIM = 32

#: CogVideoX-Fun's scheduler config (alibaba-pai CogVideoX-Fun releases).
SCHEDULER_CONFIG = {
    "_class_name": "CogVideoXDDIMScheduler",
    "_diffusers_version": "0.31.0",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "clip_sample_range": 1.0,
    "num_train_timesteps": 1000,
    "prediction_type": "v_prediction",
    "rescale_betas_zero_snr": True,
    "sample_max_value": 1.0,
    "set_alpha_to_one": True,
    "snr_shift_scale": 1.0,
    "steps_offset": 0,
    "timestep_spacing": "trailing",
    "trained_betas": None,
}

_SENTENCES = [
    "a quiet street with parked cars and trees",
    "the video is not of a high quality, it has a low resolution.",
    "watermark present in each frame. the background is solid.",
    "strange body and strange trajectory. distortion.",
    "a table with a cup on it",
    "a lime falls on the table",
    "a ball rolls off the table",
    "two pillows are on the table",
]


def tiny_vae() -> AutoencoderKLCogVideoX:
    return AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=LATENT_CHANNELS,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )


def tiny_transformer(in_channels: int) -> CogVideoXTransformer3DModel:
    """CogVideoX 1.5 layout (patch_size_t=2, rotary embeddings): 2 layers, 2 heads × 16.

    Head dim 16, not 8: CogVideoX's 3D RoPE splits a head into t/h/w parts of dim/4 and 3·dim/8,
    each of which must be even — 8 gives 3 and fails; the real model has 64.
    """
    return CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=in_channels,
        out_channels=LATENT_CHANNELS,
        time_embed_dim=4,
        text_embed_dim=TEXT_DIM,
        num_layers=2,
        sample_width=12,
        sample_height=8,
        sample_frames=13,
        patch_size=2,
        patch_size_t=2,
        temporal_compression_ratio=4,
        max_text_seq_length=226,
        use_rotary_positional_embeddings=True,
    )


def tiny_text_encoder() -> T5EncoderModel:
    config = T5Config(
        vocab_size=64,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=37,
        num_layers=1,
        num_heads=4,
        relative_attention_num_buckets=8,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    return T5EncoderModel(config)


def write_tokenizer(folder: Path) -> None:
    """A SentencePiece ``spiece.model`` (pad 0, eos 1, unk 2) as the CogVideoX release ships."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_SENTENCES * 8),
        model_writer=model,
        vocab_size=48,
        model_type="unigram",
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        character_coverage=1.0,
        minloglevel=2,
    )
    (folder / "spiece.model").write_bytes(model.getvalue())
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "T5Tokenizer", "model_max_length": 226, "extra_ids": 0})
    )


def write_tiny_weights(root: Path, seed: int = 0, pass2: bool = True) -> Path:
    """Build and save the tiny model under ``root``; returns ``root``."""
    root = Path(root)
    base = root / BASE
    torch.manual_seed(seed)
    tiny_vae().save_pretrained(base / "vae")
    # The base InP transformer: 16 noise + 1 mask + 16 video channels, with the CogVideoX-Fun
    # config key diffusers does not know about.
    tiny_transformer(2 * LATENT_CHANNELS + 1).save_pretrained(base / "transformer")
    cfg_path = base / "transformer" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["add_noise_in_inpaint_model"] = True
    cfg_path.write_text(json.dumps(cfg, indent=2))
    tiny_text_encoder().save_pretrained(base / "text_encoder")
    write_tokenizer(base / "tokenizer")
    (base / "scheduler").mkdir(parents=True, exist_ok=True)
    (base / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(SCHEDULER_CONFIG, indent=2)
    )
    for name in ("void_pass1", "void_pass2") if pass2 else ("void_pass1",):
        state = {
            k: v.contiguous() for k, v in tiny_transformer(3 * LATENT_CHANNELS).state_dict().items()
        }
        save_file(state, str(root / f"{name}.safetensors"))
    return root
