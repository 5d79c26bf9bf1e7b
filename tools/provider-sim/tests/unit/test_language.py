"""Deterministic replies, token counts and embeddings."""

import numpy as np

from switchboard.providersim.language import count_tokens, embed, prompt_tokens, reply_for


def test_embeddings_are_unit_vectors_where_shared_words_mean_closer():
    a, b, c = (embed(t, 128) for t in ("cancel my booking", "my booking, cancel it", "sunny day"))
    assert np.isclose(np.linalg.norm(a), 1.0) and np.isclose(np.linalg.norm(c), 1.0)
    assert float(a @ b) > 0.7 and abs(float(a @ c)) < 0.5
    assert np.array_equal(embed("cancel my booking", 128), a)
    assert np.isclose(np.linalg.norm(embed("", 16)), 1.0)


def test_replies_depend_only_on_the_prompt():
    prompt = [{"role": "user", "content": "Where is my parcel?"}]
    assert reply_for(prompt) == reply_for(list(prompt))
    assert "Where is my parcel?" in reply_for(prompt)
    assert reply_for(prompt) != reply_for([{"role": "user", "content": "Hi"}])
    assert count_tokens(reply_for(prompt, max_tokens=3)) == 3


def test_token_counts():
    assert count_tokens("Hello, world!") == 4
    assert prompt_tokens([{"role": "user", "content": "Hello, world!"}]) == 4 + 4 + 3
    parts = [{"role": "user", "content": [{"type": "text", "text": "a b"}]}]
    assert prompt_tokens(parts) == 2 + 4 + 3
