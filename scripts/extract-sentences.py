#!/usr/bin/env python3
"""Extracts English prose sentences from CPython's bundled documentation (pydoc_data/topics.py) into the sentence
sets of compiler/data/sentences: calibration.txt, evaluation.txt, training.txt (disjoint, one sentence per line).

Deterministic: the same Python release gives byte-identical files. The committed files come from Python 3.11.7;
run with that interpreter to reproduce them (`python3 scripts/extract-sentences.py`), or pass --out DIR to write
elsewhere (e.g. to compare). See compiler/data/sentences/PROVENANCE.md.

Method:
1. Every topic text (topics sorted by key) is split into paragraphs at blank lines. Paragraphs that are section
   headings (underlined with * = - characters), indented blocks at an odd indent (reST literal and grammar blocks
   are indented by 3 relative to their parent) or deeper than 6 columns, doctest lines (>>>), grammar lines (::=)
   and tables (+---) are dropped; bullet markers are removed and the remaining lines joined with single spaces.
2. Emphasis markup (*word*) loses its asterisks; the paragraph is split into sentences after . ? ! followed by a
   space and an upper-case letter (not after e.g., i.e., etc., cf., vs.).
3. A sentence is kept if it starts with an upper-case letter, ends with . ? or !, has 6 to 60 words and, outside
   double-quoted names (a quoted span of 1 to 30 characters without spaces, how the text marks identifiers such as
   "eval()" or "__init__"), contains none of the characters of code (= [ ] { } < > | \\ ` ~ ^ % $ # @) nor "__",
   "()", "...", "::", ">>>", "://", and at least 85 % of its words are plain words (letters with optional
   apostrophes/hyphens, optionally quoted, plus trailing punctuation; a quoted name counts as one).
4. Sentences are deduplicated case-insensitively (the MiniLM tokenizer lower-cases), keeping the first.
5. Split: sentences are ranked by the SHA-256 of their UTF-8 text; the first 256 go to calibration, the next 512 to
   evaluation, the rest to training. Each file lists its sentences in source order.
"""

import argparse
import hashlib
import re
import sys
from pathlib import Path

import pydoc_data.topics

CALIBRATION = 256
EVALUATION = 512
MIN_WORDS, MAX_WORDS = 6, 60

HEADING = re.compile(r"^\s*([*=\-~^\"]{3,})\s*$")
BULLET = re.compile(r"^(\s*)(?:[*\-+]|\d+\.|[a-z]\.|\(\d+\)|\([a-z]\))\s+")
EMPHASIS = re.compile(r"\*{1,2}([^*\s][^*]*?)\*{1,2}")
SPLIT = re.compile(r"(?<=[.?!])[\"”’)]?\s+(?=[A-Z“\"])")
ABBREVIATIONS = ["e.g.", "i.e.", "etc.", "cf.", "vs.", "Mr.", "Dr.", "St.", "No."]
CODE_CHARS = set("=[]{}<>|\\`~^%$#@")
CODE_STRINGS = ["__", "()", "...", "::", ">>>", "://"]
QUOTED_NAME = re.compile(r'"[^" ]{1,30}"')
PLAIN_WORD = re.compile(r"^[\"“(]?[A-Za-z][A-Za-z'’\-]*[\"”)]?[.,;:?!]?[\"”)]?$")


def indent(line):
    return len(line) - len(line.lstrip(" "))


def paragraphs(text):
    block = []
    for line in text.split("\n"):
        if line.strip():
            block.append(line.rstrip())
        elif block:
            yield block
            block = []
    if block:
        yield block


def prose_paragraph(block):
    """The paragraph's text joined on one line, or None if it is not prose."""
    if any(HEADING.match(line) for line in block):
        return None
    first = block[0]
    bullet = BULLET.match(first)
    base = indent(first)
    if base > 6 or (base % 2 == 1 and not bullet):
        return None
    if any(s in line for line in block for s in (">>>", "::=", "+---", "+===")):
        return None
    # Literal blocks inside a paragraph are indented more deeply than its continuation lines.
    cont = len(bullet.group(0)) if bullet else base
    if any(indent(line) > cont for line in block[1:]):
        return None
    lines = [BULLET.sub("", first, count=1) if bullet else first] + block[1:]
    return " ".join(line.strip() for line in lines)


def sentences(paragraph):
    text = EMPHASIS.sub(r"\1", paragraph)
    text = re.sub(r"\s+", " ", text).strip()
    protected = text
    for i, abbr in enumerate(ABBREVIATIONS):
        protected = protected.replace(abbr, f"\x00{i}\x00")
    for part in SPLIT.split(protected):
        for i, abbr in enumerate(ABBREVIATIONS):
            part = part.replace(f"\x00{i}\x00", abbr)
        yield part.strip()


def keep(sentence):
    if not sentence or not ("A" <= sentence[0] <= "Z") or sentence[-1] not in ".?!":
        return False
    if not MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
        return False
    outside = QUOTED_NAME.sub('"name"', sentence)
    words = outside.split()
    if any(c in CODE_CHARS for c in outside) or any(s in outside for s in CODE_STRINGS):
        return False
    plain = sum(1 for w in words if PLAIN_WORD.match(w))
    return plain >= 0.85 * len(words)


def extract():
    seen = set()
    out = []
    for key in sorted(pydoc_data.topics.topics):
        for block in paragraphs(pydoc_data.topics.topics[key]):
            paragraph = prose_paragraph(block)
            if paragraph is None:
                continue
            for s in sentences(paragraph):
                if keep(s) and s.lower() not in seen:
                    seen.add(s.lower())
                    out.append(s)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parent.parent / "compiler" / "data" / "sentences"
    parser.add_argument("--out", type=Path, default=default, help="output directory (default: %(default)s)")
    args = parser.parse_args()

    found = extract()
    rank = sorted(range(len(found)), key=lambda i: hashlib.sha256(found[i].encode("utf-8")).hexdigest())
    if len(found) < CALIBRATION + EVALUATION + 1:
        sys.exit(f"only {len(found)} sentences found: need more than {CALIBRATION + EVALUATION}")
    split = {}
    for position, i in enumerate(rank):
        split[i] = (
            "calibration" if position < CALIBRATION else "evaluation" if position < CALIBRATION + EVALUATION else "training"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("calibration", "evaluation", "training"):
        chosen = [s for i, s in enumerate(found) if split[i] == name]
        (args.out / f"{name}.txt").write_text("".join(s + "\n" for s in chosen), encoding="utf-8")
        words = sorted(len(s.split()) for s in chosen)
        print(
            f"{name}: {len(chosen)} sentences, words min {words[0]} median {words[len(words) // 2]} max {words[-1]}"
        )
    print(f"source: {pydoc_data.topics.__file__} (Python {sys.version.split()[0]}), {len(found)} sentences")


if __name__ == "__main__":
    main()
