#!/usr/bin/env python3
"""Checks a subword data directory written by `ngpt prepare --tokenizer ...` against Hugging
Face's `tokenizers` (pip install tokenizers): loads DIR/tokenizer.json with
`Tokenizer.from_file`, rebuilds the validation and training text from the sources and
`val_ranges` in DIR/meta.json, encodes each range on its own as ngpt does, and compares the ids
with val.bin and train.bin. Exits 1 on the first difference.

    python3 scripts/check-tokenizer.py DIR [--val-only]
"""
import array
import json
import os
import sys

from tokenizers import Tokenizer


def read_ids(path, dtype):
    ids = array.array("H" if dtype == "uint16" else "I")
    with open(path, "rb") as f:
        ids.frombytes(f.read())
    if sys.byteorder != "little":
        ids.byteswap()
    return ids.tolist()


def encode(tokenizer, text, ranges):
    ids = []
    for lo, hi in ranges:
        ids += tokenizer.encode(text[lo:hi].decode("utf-8")).ids
    return ids


def compare(name, ours, theirs):
    if ours == theirs:
        print(f"{name}: {len(ours)} ids, identical to tokenizers'")
        return True
    first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    print(f"{name}: differs from tokenizers' at token {first} ({len(ours)} ids here, {len(theirs)} from tokenizers): "
          f"{ours[first:first + 8]} vs {theirs[first:first + 8]}")
    return False


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    directory = sys.argv[1]
    with open(os.path.join(directory, "meta.json")) as f:
        meta = json.load(f)
    if meta.get("tokenizer") != "byte-level-bpe":
        sys.exit(f"{directory} holds {meta.get('tokenizer')} tokens, not byte-level BPE")
    tokenizer = Tokenizer.from_file(os.path.join(directory, meta["tokenizer_file"]))
    text = b"".join(open(s["path"], "rb").read() for s in meta["sources"])
    val_ranges = meta["val_ranges"]
    ok = compare("val.bin", read_ids(os.path.join(directory, "val.bin"), meta["dtype"]), encode(tokenizer, text, val_ranges))
    if "--val-only" not in sys.argv:
        train_ranges, start = [], 0
        for lo, hi in val_ranges:
            if lo > start:
                train_ranges.append((start, lo))
            start = hi
        if start < len(text):
            train_ranges.append((start, len(text)))
        ok = compare("train.bin", read_ids(os.path.join(directory, "train.bin"), meta["dtype"]),
                     encode(tokenizer, text, train_ranges)) and ok
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
