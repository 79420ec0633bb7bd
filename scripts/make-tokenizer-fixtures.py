#!/usr/bin/env python3
"""Writes Tests/NGPTTests/TokenizerFixtures/: tokenizer.json files made by Hugging Face's
`tokenizers` and the ids it encodes a set of texts to, which TokenizerTests compares ngpt's
encoder with. Run once (pip install tokenizers); the tests need only the files it writes.

    python3 scripts/make-tokenizer-fixtures.py [OUT_DIR]

Files:
  gpt2-style.json    a byte-level BPE with GPT-2's configuration (ByteLevel pre-tokenizer
                     without a prefix space, ByteLevel decoder and post-processor, no normaliser)
                     and GPT-2's <|endoftext|> as an added special token at the end of the
                     vocabulary; GPT-2's own file cannot be downloaded here, and this one is
                     read by the same code path
  prefix-space.json  the same training with add_prefix_space and ignore_merges set
  cases.json         {"tokenizers_version": ..., "cases": [{"text": ..., FILE: [id, ...], ...}, ...]}
  wordpiece.json, unigram.json, normalizer.json
                     kinds ngpt refuses (a WordPiece model, a Unigram model, a byte-level BPE
                     behind an NFC normaliser)
"""
import json
import os
import random
import sys

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "NGPTTests", "TokenizerFixtures")

CORPUS = """
In the beginning God created the heaven and the earth. And the earth was without form, and void;
and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.
And God said, Let there be light: and there was light. And God saw the light, that it was good:
and God divided the light from the darkness. And God called the light Day, and the darkness he
called Night. And the evening and the morning were the first day.
  1:1 It's the 2nd day; they're here, we've seen 1234 things, I'm sure you'll say he'd agree.
Naïve café owners in Zürich said: «Ça va?» — Ελληνικά κείμενα, русский текст, 中文字符和日本語のテキスト.
Numbers: 3.14159, 2,718, ①②③, ٣٤٥, Ⅻ; emoji 😀👍🏽 and tabs\tand\r\nCRLF lines.
"""


def train(add_prefix_space, ignore_merges=False):
    tok = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=add_prefix_space)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=600, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([CORPUS] * 3, trainer=trainer)
    tok.add_special_tokens(["<|endoftext|>"])
    return tok


def texts():
    fixed = [
        "",
        "Hello world",
        "Hello world ",
        "  leading spaces and trailing   ",
        "It's, they're, we've, I'm, you'll, he'd, don't, DON'T, 's 't 're 've 'm 'll 'd",
        "'s'", "''", "'re're", "' quote", "x'rex", "!'s", " 's", "''s",
        "a  b   c\n\n\nd \n e\t\tf  ",
        "line one\r\nline two\r\n",
        "\u00a0nbsp\u00a0 \u00a0x",
        "\u3000ideographic\u3000space",
        "sep\u2028line\u2029para",
        "next\u0085line",
        "vt\u000bff\u000cfs\u001cus\u001f.",
        "nul\u0000del\u007f",
        "12345 3.14 ①②③ ٣٤ Ⅻ x²",
        "!!! ?? ... --- ;;; ()[]{}",
        "naïve café, Zürich «Ça va?»",
        "Ελληνικά, русский, 中文字符, 日本語のテキスト",
        "emoji 😀👍🏽 mixed😀text",
        "combining e\u0301 and ǅ titlecase, ʰ modifier, ǂ other letter",
        "end<|endoftext|>start",
        "<|endoftext|><|endoftext|> <|endoftext|>\n",
        "<|endoftext",
        " ",
        "\n",
        "   \n",
        CORPUS,
    ]
    rng = random.Random(22)
    pool = list("abcXYZ019 '\n\t!.,\u00a0é中😀Ⅻǅʰ\u2028-") + ["'s", "'re", " the", "  ", "<|endoftext|>"]
    randomized = ["".join(rng.choice(pool) for _ in range(rng.randrange(1, 120))) for _ in range(40)]
    return fixed + randomized


def main():
    os.makedirs(OUT, exist_ok=True)
    made = {"gpt2-style.json": train(False), "prefix-space.json": train(True, ignore_merges=True)}
    cases = [{"text": t} for t in texts()]
    for name, tok in made.items():
        tok.save(os.path.join(OUT, name), pretty=True)
        again = Tokenizer.from_file(os.path.join(OUT, name))
        for case in cases:
            case[name] = again.encode(case["text"]).ids
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        f.write('{"tokenizers_version": %s, "cases": [\n' % json.dumps(tokenizers.__version__))
        f.write(",\n".join(json.dumps(c, ensure_ascii=False, separators=(",", ":")) for c in cases))
        f.write("\n]}\n")

    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.pre_tokenizer = pre_tokenizers.Whitespace()
    wordpiece.train_from_iterator([CORPUS], trainers.WordPieceTrainer(vocab_size=200, special_tokens=["[UNK]"], show_progress=False))
    wordpiece.save(os.path.join(OUT, "wordpiece.json"))
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.train_from_iterator([CORPUS], trainers.UnigramTrainer(vocab_size=200, show_progress=False))
    unigram.save(os.path.join(OUT, "unigram.json"))
    normalized = train(False)
    normalized.normalizer = normalizers.NFC()
    normalized.save(os.path.join(OUT, "normalizer.json"))
    print(f"wrote {OUT} with tokenizers {tokenizers.__version__}")


if __name__ == "__main__":
    main()
