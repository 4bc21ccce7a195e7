"""Generated documents for the text tests: edge cases, then random documents of every length."""

from __future__ import annotations

import random

import pandas as pd

WORDS = [
    "spark", "onnx", "mlflow", "model", "serve", "fast", "slow", "jvm", "python", "data",
    "the", "a", "of", "and", "is", "not",
    "école", "ÉCOLE", "Straße", "naïve", "Ångström", "日本語", "テキスト", "数据", "Über", "café",
    "😀", "ok😀", "ab", "Abc", "abcd",
]  # fmt: skip
SEPARATORS = [" ", " ", " ", "  ", "\t", "\n", "\r\n", " \t ", "\x0b", "\f", "   "]
EDGE_CASES = [
    "", " ", "   ", "\t", "\n\n", "a", " a", "a ", "a  b", "\ta\tb\t", "a\nb\r\nc", "  lead", "trail  ",
    "x\x0by\x0cz", "non\u00a0breaking", "ÉCOLE Straße ß", "日本語 テキスト", "the of and", "THE A OF",
    "Hello World hello WORLD", "  \t mixed \n\n whitespace \r ",
]  # fmt: skip


def documents(n: int, seed: int) -> list[str]:
    """``n`` documents: the edge cases, then random ones of very different lengths and spacing."""
    rng = random.Random(seed)
    docs = list(EDGE_CASES)
    while len(docs) < n:
        length = rng.choice([0, 1, 2, 3, 5, 8, 13, 40, 400]) if len(docs) % 50 else 1500
        text = "".join(rng.choice(WORDS) + rng.choice(SEPARATORS) for _ in range(length))
        if rng.random() < 0.3:
            text = text.strip()
        if rng.random() < 0.15:
            text = text.upper()
        docs.append(text)
    return docs[:n]


def labelled(docs: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"text": docs, "label": [float("fast" in d.lower() or "数据" in d) for d in docs]})


#: Edge cases beyond EDGE_CASES: only stop words, one very long document, repeated terms.
MORE_EDGES = ["the of and a is not", "THE OF AND", " ".join(["spark", "data", "école"] * 3000), "fast " * 50]


def topic(text: str) -> float:
    """Three classes that the words decide (so the classifiers learn something)."""
    lower = text.lower()
    if "fast" in lower or "数据" in lower:
        return 2.0
    return 1.0 if "spark" in lower or "onnx" in lower else 0.0


def topic_corpus(n: int, seed: int) -> pd.DataFrame:
    docs = documents(n, seed=seed)
    return pd.DataFrame({"text": docs, "label": [topic(d) for d in docs]})
