"""Pure rules: chunking, cost, prompt, top-k."""

import numpy as np

from switchboard.ai.models import (
    ChatMessage,
    StoredMessage,
    build_prompt,
    content_hash,
    cost_usd,
    split_chunks,
)
from switchboard.ai.retrieval import normalise, top_k


def test_editing_one_paragraph_changes_only_its_chunk() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 30 for i in range(8)]
    before = split_chunks("\n\n".join(paragraphs), 400, 50)
    paragraphs[5] = "Paragraph 5 was rewritten entirely."
    after = split_chunks("\n\n".join(paragraphs), 400, 50)
    changed = set(after) - set(before)
    assert 1 <= len(changed) <= 2
    assert len(set(after) & set(before)) >= len(after) - 2
    assert all(len(c) <= 400 for c in after)


def test_long_paragraph_is_split_with_overlap() -> None:
    chunks = split_chunks("x" * 1000, 400, 100)
    assert [len(c) for c in chunks] == [400, 400, 400, 100]


def test_cost_and_hash() -> None:
    assert cost_usd(1000, 500, 0.5, 1.0) == 1.0
    assert content_hash("a", "m1") != content_hash("a", "m2")


def test_prompt_order() -> None:
    from datetime import UTC, datetime

    t = datetime(2026, 1, 1, tzinfo=UTC)
    history = [StoredMessage("1", "c", "b", "user", "hi", t)]
    prompt = build_prompt("sys", [], history, "again")
    assert prompt == [
        ChatMessage("system", "sys"),
        ChatMessage("user", "hi"),
        ChatMessage("user", "again"),
    ]


def test_top_k_is_cosine_best_first() -> None:
    unit = normalise([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    result = top_k(unit, [2, 0.1, 0], 2)
    assert [i for i, _ in result] == [0, 2]
    assert result[0][1] > result[1][1]
    assert top_k(unit, [0, 0, 0], 2) == []
    assert top_k(np.zeros((0, 0), dtype=np.float32), [1.0], 3) == []
