#!/usr/bin/env python3
"""Extracts English prose sentences from the docstrings of CPython's standard library into the IDP training text
compiler/data/sentences/docstrings.txt (one sentence per line), disjoint from the sentence sets of
extract-sentences.py (calibration, evaluation, training).

Deterministic: the same Python release gives a byte-identical file. The committed file comes from Python 3.11.7; run
with that interpreter to reproduce it (`python3 scripts/extract-docstrings.py`), or pass --out FILE to write elsewhere.
See compiler/data/sentences/PROVENANCE.md.

Method:
1. Every .py file under the standard library directory (sysconfig's "stdlib"), walked in sorted order, skipping the
   directories test, tests, idle_test, lib2to3 and site-packages, is parsed with ast (nothing is imported, so no
   module's import side effects run); the docstrings of the module, its classes and its functions are taken in
   ast.walk order (ast.get_docstring: indentation cleaned).
2. Each docstring goes through the paragraph, sentence and keep rules of extract-sentences.py (headings, literal
   blocks, doctests and tables dropped; 6 to 60 words; no code characters outside double-quoted names; at least
   85 % plain words); sentences are deduplicated case-insensitively.
3. A sentence is dropped if its normalised form (lower case, letters and digits only) equals that of any sentence
   of the three pydoc_data/topics.py sets, so that nothing of the evaluation or calibration sets enters training.
4. The 4096 sentences with the lowest SHA-256 of their UTF-8 text are kept, listed in source order.
"""

import argparse
import ast
import hashlib
import importlib.util
import os
import re
import sys
import sysconfig
from pathlib import Path

KEEP = 4096
SKIP_DIRS = {"test", "tests", "idle_test", "lib2to3", "site-packages", "__pycache__"}
HERE = Path(__file__).resolve().parent
SENTENCES = HERE.parent / "compiler" / "data" / "sentences"


def load_rules():
    """The paragraph, sentence and keep rules of extract-sentences.py (one definition of what prose is)."""
    spec = importlib.util.spec_from_file_location("extract_sentences", HERE / "extract-sentences.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def normalised(sentence):
    return re.sub(r"[^a-z0-9]", "", sentence.lower())


def stdlib_files(root):
    for directory, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith(".py"):
                yield Path(directory) / name


def docstrings(path):
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                yield doc


def extract(rules, excluded):
    seen = set()
    out = []
    for path in stdlib_files(sysconfig.get_paths()["stdlib"]):
        for doc in docstrings(path):
            for block in rules.paragraphs(doc):
                paragraph = rules.prose_paragraph(block)
                if paragraph is None:
                    continue
                for s in rules.sentences(paragraph):
                    if rules.keep(s) and s.lower() not in seen and normalised(s) not in excluded:
                        seen.add(s.lower())
                        out.append(s)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=SENTENCES / "docstrings.txt", help="output file (default: %(default)s)")
    args = parser.parse_args()

    rules = load_rules()
    excluded = set()
    for name in ("calibration", "evaluation", "training"):
        for line in (SENTENCES / f"{name}.txt").read_text(encoding="utf-8").splitlines():
            if line.strip():
                excluded.add(normalised(line))
    found = extract(rules, excluded)
    if len(found) < KEEP:
        sys.exit(f"only {len(found)} sentences found: need {KEEP}")
    rank = sorted(range(len(found)), key=lambda i: hashlib.sha256(found[i].encode("utf-8")).hexdigest())
    chosen = sorted(rank[:KEEP])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(found[i] + "\n" for i in chosen), encoding="utf-8")
    words = sorted(len(found[i].split()) for i in chosen)
    print(f"docstrings: {len(chosen)} of {len(found)} sentences, words min {words[0]} median {words[len(words) // 2]} max {words[-1]}")
    print(f"source: {sysconfig.get_paths()['stdlib']} (Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
