"""Retriever: vectors cached per business version, no chunk query before any knowledge."""

from switchboard.ai.models import KnowledgeChunk
from switchboard.ai.retrieval import Retriever

from ..fakes import FakeClock, FakeEmbedder, InMemoryKnowledge, bag_of_words


class CountingKnowledge(InMemoryKnowledge):
    def __init__(self) -> None:
        super().__init__()
        self.chunk_reads = 0

    async def chunks(self, business_id: str) -> list[KnowledgeChunk]:
        self.chunk_reads += 1
        return await super().chunks(business_id)


def make() -> tuple[Retriever, CountingKnowledge, FakeEmbedder]:
    index, embedder = CountingKnowledge(), FakeEmbedder()
    retriever = Retriever(
        index, embedder, k=1, min_score=0.0, ttl_s=300, max_entries=10, clock=FakeClock()
    )
    return retriever, index, embedder


async def test_a_business_without_knowledge_costs_no_chunk_query_nor_embedding() -> None:
    retriever, index, embedder = make()
    for _ in range(3):
        assert await retriever.retrieve("b1", "when do you open?") == []
    assert index.chunk_reads == 0
    assert embedder.embedded == []


async def test_chunks_are_read_again_only_when_the_version_moves() -> None:
    retriever, index, _ = make()
    text = "We open at 7."
    index.set("b1", [KnowledgeChunk("d", "Hours", 0, text, "h", tuple(bag_of_words(text)))])
    for _ in range(3):
        [found] = await retriever.retrieve("b1", "when do you open")
        assert found.chunk.title == "Hours"
    assert index.chunk_reads == 1
    index.set("b1", [])
    assert await retriever.retrieve("b1", "when do you open") == []
    assert index.chunk_reads == 2
