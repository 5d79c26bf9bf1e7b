"""Knowledge on real FerretDB: embed once, re-embed only what changed, retrieve into prompts."""

import pytest

from switchboard.ai.admin import AdminService

pytestmark = pytest.mark.integration

HOURS = "\n\n".join(
    [
        "Opening hours: we open at 7 in the morning and close at 6 in the evening.",
        "On Sundays the bakery stays closed all day.",
        "Holidays: we close early at noon on public holidays.",
    ]
)
BREAD = "\n\n".join(
    [
        "Our sourdough rye bread is baked fresh every morning with organic flour.",
        "Gluten free loaves can be ordered one day ahead.",
        "Croissants come plain, with almonds, or with chocolate.",
    ]
)


@pytest.fixture
def admin(runtime, cipher) -> AdminService:
    from switchboard.ai.adapters.mongo_replies import MongoUsage

    return AdminService(
        runtime.businesses,
        runtime.knowledge,
        MongoUsage(runtime.db),
        cipher,
        "gpt-test",
        config=runtime.config,
    )


async def test_embed_only_new_and_changed_chunks(runtime, fakes, admin, build, cipher) -> None:
    business = build.business(cipher)
    await runtime.businesses.create(business)
    await admin.put_document("acme", business.id, "hours", "Opening hours", HOURS)
    await admin.put_document("acme", business.id, "bread", "Bread", BREAD)
    first = await runtime.job.run_once()
    assert first == len(fakes.embedder.embedded) == len(await runtime.knowledge.chunks("biz1"))
    assert first >= 4  # several chunks per document, so "only what changed" means something
    docs = await admin.documents("acme", business.id)
    assert {d.status for d in docs} == {"ready"}
    chunks_before = {c.hash: c for c in await runtime.knowledge.chunks(business.id)}

    assert await runtime.job.run_once() == 0  # nothing pending
    await admin.put_document("acme", business.id, "bread", "Bread", BREAD)  # same content
    assert await runtime.job.run_once() == 0

    changed = BREAD.replace("Croissants come plain", "Croissants now come plain")
    fakes.embedder.embedded.clear()
    await admin.put_document("acme", business.id, "bread", "Bread", changed)
    assert await runtime.job.run_once() == 1
    assert len(fakes.embedder.embedded) == 1 and "now come plain" in fakes.embedder.embedded[0]
    chunks_after = {c.hash: c for c in await runtime.knowledge.chunks(business.id)}
    assert len(chunks_after) == len(chunks_before)
    assert len(set(chunks_after) - set(chunks_before)) == 1  # the old chunk was replaced

    await admin.delete_document("acme", business.id, "hours")
    remaining = await runtime.knowledge.chunks(business.id)
    assert {c.doc_id for c in remaining} == {"bread"}


async def test_retrieval_puts_the_right_chunk_in_the_prompt(
    runtime, fakes, admin, build, cipher
) -> None:
    business = build.business(cipher)
    await runtime.businesses.create(business)
    await admin.put_document("acme", business.id, "hours", "Opening hours", HOURS)
    await admin.put_document("acme", business.id, "bread", "Bread", BREAD)
    await runtime.job.run_once()
    outcome = await runtime.handle(build.inbound(text="Are you closed on Sundays?"))
    assert outcome == "replied"
    system = fakes.model.prompts[-1][0].content
    assert "[Opening hours]" in system
    assert "On Sundays the bakery stays closed all day." in system
    assert system.index("[Opening hours]") < system.find("[Bread]") or "[Bread]" not in system

    await runtime.handle(build.inbound("m2", text="Do you have gluten free bread loaves?"))
    system = fakes.model.prompts[-1][0].content
    first_cited = system.split("\n\n[", 1)[1]
    assert first_cited.startswith("Bread]")
