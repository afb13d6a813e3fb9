"""Tokenizers for the toy world, built from its vocabulary so every word is one token.

No pretrained tokenizer can be downloaded here, and the toy models are small: a CLIP tokenizer
(byte-level BPE, CLIP's format) whose merges are learned on the toy world's words, and a BERT
WordPiece tokenizer for the Q-Former holding the same words. Both fall back to characters for
words outside the toy world, as any BPE/WordPiece tokenizer does.
"""

from __future__ import annotations

import json
import re

from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import BertTokenizer, CLIPTokenizer

from blip_diffusion.toyworld.scenes import CONTEXT_SCENES, REFERENCE_SCENES
from blip_diffusion.toyworld.subjects import CLASSES, COLOURS, FINISHES, PATTERNS, SIZES

EXTRA_WORDS = ("a", "an", "and", "the", "of", "sks", "photo", "picture")  # sks: DreamBooth's rare token
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def toy_words() -> list[str]:
    """Every word a toy-world caption or prompt uses, sorted."""
    words = set(EXTRA_WORDS) | set(CLASSES) | set(COLOURS) | set(PATTERNS) | set(FINISHES) | set(SIZES)
    for scene in CONTEXT_SCENES + REFERENCE_SCENES:
        words |= set(re.findall(r"[a-z]+", scene.phrase))
    return sorted(words)


def byte_alphabet() -> list[str]:
    """The 256 characters of byte-level BPE, in CLIP's vocabulary order."""
    return sorted(pre_tokenizers.ByteLevel.alphabet(), key=lambda c: (ord(c) > 255, ord(c)))


def toy_clip_tokenizer(max_length: int = 77) -> CLIPTokenizer:
    """A CLIP tokenizer whose BPE merges make each toy-world word a single token."""
    alphabet = byte_alphabet()
    learner = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    learner.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=100_000, initial_alphabet=alphabet, end_of_word_suffix="</w>",
                                  min_frequency=1, show_progress=False)
    learner.train_from_iterator([" ".join(toy_words())], trainer)
    learned = json.loads(learner.to_str())["model"]["merges"]
    merges = [tuple(pair) if isinstance(pair, list) else tuple(pair.split(" ")) for pair in learned]
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(pair) for pair in merges]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(tokens))}
    vocab[BOS], vocab[EOS] = len(vocab), len(vocab) + 1
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=max_length)


def toy_bert_tokenizer(folder: str) -> BertTokenizer:
    """A lower-case WordPiece tokenizer with the toy words and single characters, saved in ``folder``
    (BertTokenizer reads its vocabulary from a file)."""
    from pathlib import Path

    chars = [chr(c) for c in range(33, 127)]
    vocab = list(BERT_SPECIALS) + toy_words() + [c for c in chars if c not in toy_words()]
    vocab += [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(str(Path(folder) / "vocab.txt"), do_lower_case=True, truncation_side="right")
    tokenizer.save_pretrained(folder)
    return tokenizer
