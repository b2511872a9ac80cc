"""The tokenizer: a pretrained one from a local directory, or a byte-level BPE trained on the QA corpus."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .config import TokenizerConfig, resolve

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


def train_bpe(texts: Iterable[str], cfg: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Byte-level BPE (every string encodable, lossless decoding) with pad and eos specials."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency, special_tokens=[PAD_TOKEN, EOS_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS_TOKEN, pad_token=PAD_TOKEN)


def load_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    """A tokenizer saved with ``save_pretrained`` (ours in a checkpoint, or a pretrained model's)."""
    if not Path(directory).is_dir():
        raise FileNotFoundError(f"tokenizer directory not found: {directory}")
    tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def build_tokenizer(cfg: TokenizerConfig, corpus: Iterable[str]) -> PreTrainedTokenizerBase:
    """The pretrained tokenizer when configured, else BPE trained on ``corpus``."""
    return load_tokenizer(resolve(cfg.pretrained_dir)) if cfg.pretrained_dir else train_bpe(corpus, cfg)
