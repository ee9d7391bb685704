"""The T5 tokenizer, from the base model's ``tokenizer/`` folder, offline.

The CogVideoX-Fun release ships a SentencePiece ``spiece.model`` (no ``tokenizer.json``).
transformers 4.x reads it with its slow ``T5Tokenizer``; transformers 5 converts it to a fast
tokenizer, which needs ``protobuf``. When transformers cannot load it, we tokenize with the
``sentencepiece`` library directly — T5's scheme is small: pieces, then ``</s>``, then ``<pad>``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

log = logging.getLogger(__name__)


@dataclass
class Encoding:
    input_ids: torch.Tensor


class SentencePieceT5Tokenizer:
    """T5 tokenization of ``spiece.model`` with the ``sentencepiece`` library only.

    Covers what the pipeline calls: ``padding="max_length"|"longest"``, ``truncation``,
    ``add_special_tokens`` (``</s>`` appended) and ``return_tensors="pt"``.
    """

    def __init__(self, model_file: str | Path, pad_id: int = 0, eos_id: int = 1) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.pad_token_id = pad_id
        self.eos_token_id = eos_id

    def __call__(
        self,
        text: str | list[str],
        padding: str | bool = False,
        max_length: int | None = None,
        truncation: bool = False,
        add_special_tokens: bool = True,
        return_tensors: str | None = "pt",
    ) -> Encoding:
        texts = [text] if isinstance(text, str) else list(text)
        rows = []
        for t in texts:
            ids = list(self.sp.encode(t))
            if truncation and max_length is not None:
                ids = ids[: max_length - (1 if add_special_tokens else 0)]
            if add_special_tokens:
                ids.append(self.eos_token_id)
            rows.append(ids)
        if padding == "max_length" and max_length is not None:
            width = max_length
        else:
            width = max(len(r) for r in rows)
        batch = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        for i, r in enumerate(rows):
            batch[i, : len(r)] = torch.tensor(r[:width], dtype=torch.long)
        return Encoding(input_ids=batch)

    def batch_decode(self, ids: torch.Tensor) -> list[str]:
        return [
            self.sp.decode(
                [int(i) for i in row if int(i) not in (self.pad_token_id, self.eos_token_id)]
            )
            for row in ids
        ]


def load_tokenizer(folder: str | Path):
    """transformers' T5 tokenizer when it can load the folder offline, else :class:`SentencePieceT5Tokenizer`."""
    folder = Path(folder)
    spiece = folder / "spiece.model"
    if (
        not (folder / "tokenizer.json").is_file()
        and spiece.is_file()
        and not _transformers_reads_spiece()
    ):
        log.info(
            "tokenizing with sentencepiece directly (transformers 5 needs protobuf to read %s)",
            spiece,
        )
        return SentencePieceT5Tokenizer(spiece)
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        if not spiece.is_file():
            raise
        log.info(
            "transformers could not load %s (%s); tokenizing with sentencepiece directly",
            folder,
            exc,
        )
        return SentencePieceT5Tokenizer(spiece)


def _transformers_reads_spiece() -> bool:
    """transformers < 5 has the slow sentencepiece tokenizer; 5 converts, which needs protobuf."""
    import importlib.util

    import transformers

    major = int(transformers.__version__.split(".")[0])
    if major < 5:
        return True
    try:
        return importlib.util.find_spec("google.protobuf") is not None
    except ModuleNotFoundError:  # no ``google`` namespace at all
        return False
