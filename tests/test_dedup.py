from __future__ import annotations

from pipeline.stages.dedup import DedupIndex, signature, signatures

ORIGINAL = (
    "Netflix is expanding its use of generative AI across film and series production, "
    "co-chief executive Ted Sarandos told analysts on Tuesday, pointing to the Argentine "
    "science-fiction drama El Eternauta as the first original to include final footage made "
    "with generative video tools. The sequence, a building collapsing in Buenos Aires, was "
    "finished ten times faster than with a traditional visual effects pipeline, he said, and "
    "at a cost the production could afford. The streamer also uses the technology for "
    "pre-visualisation and shot planning, and is testing advertising formats generated on the "
    "fly for subscribers on its cheaper tier. Sarandos insisted the tools would help creators "
    "rather than replace them, while unions said they would watch how the guidelines for "
    "production partners are applied in practice."
)
OTHER_OUTLET_SAME_EVENT = (
    "Generative AI is now part of how Netflix makes its shows. During its quarterly results "
    "the company described a pipeline in which AI helps with pre-visualisation, costume and set "
    "design and finished effects shots. European producers working with the streamer told us "
    "they received new guidelines asking partners to declare any use of generative tools in "
    "advance, and French dubbing artists fear synthetic voices will be the next step. For now "
    "the company insists the technology serves its creators instead of replacing them, and "
    "that smaller productions will get effects they could never have afforded before."
)


def test_exact_copy_is_a_duplicate_of_the_first_seen() -> None:
    index = DedupIndex()
    assert index.add("a", signature("Netflix goes all in", ORIGINAL)) is None
    assert index.add("b", signature("Netflix goes all in", ORIGINAL)) == "a"


def test_reposted_copy_with_new_headline_boilerplate_and_edits_is_a_duplicate() -> None:
    repost = (
        "REPUBLISHED FROM OUR PARTNERS | Sign up for our newsletter. "
        + ORIGINAL.replace("on Tuesday", "this week").replace("he said", "Sarandos said")
        + " Read more stories like this on our website."
    )
    index = DedupIndex()
    index.add("original", signature("Netflix goes all in on generative AI", ORIGINAL))
    assert index.add("repost", signature("WIRE: Netflix bets on AI", repost)) == "original"


def test_copy_with_a_cut_tail_is_a_duplicate() -> None:
    cut = ORIGINAL[: len(ORIGINAL) * 3 // 5]
    index = DedupIndex()
    index.add("original", signature(None, ORIGINAL))
    assert index.add("cut", signature(None, cut)) == "original"


def test_two_articles_about_the_same_event_are_not_duplicates() -> None:
    index = DedupIndex()
    index.add("techbeat", signature(None, ORIGINAL))
    assert index.add("rudebaguette", signature(None, OTHER_OUTLET_SAME_EVENT)) is None


def test_copy_of_a_copy_points_at_the_root() -> None:
    index = DedupIndex()
    index.add("a", signature(None, ORIGINAL))
    index.add("b", signature(None, ORIGINAL + " Updated at 10:00."))
    assert index.add("c", signature(None, ORIGINAL + " Updated at 11:00.")) == "a"


def test_short_texts_are_compared_exactly_only() -> None:
    index = DedupIndex()
    index.add("a", signature("Netflix bets on AI", None))
    assert index.add("b", signature("Netflix bets on AI!", None)) == "a"  # same words
    assert index.add("c", signature("Netflix bets on AI again", None)) is None


def test_adding_an_article_again_gives_the_same_answer() -> None:
    index = DedupIndex()
    index.add("a", signature(None, ORIGINAL))
    assert index.add("b", signature(None, ORIGINAL)) == "a"
    assert index.add("b", signature(None, ORIGINAL)) == "a"
    assert index.add("a", signature(None, ORIGINAL)) is None
    assert len(index) == 2


def test_index_survives_a_round_trip_through_parquet() -> None:
    index = DedupIndex()
    index.add("short", signature("Netflix goes all in", None))  # no MinHash, exact only
    index.add("a", signature(None, ORIGINAL))
    index.add("b", signature(None, OTHER_OUTLET_SAME_EVENT))
    reloaded = DedupIndex.from_parquet(index.to_parquet(), "test")
    cut = ORIGINAL[: len(ORIGINAL) * 3 // 5]
    assert reloaded.add("c", signature(None, cut)) == "a"
    edited = OTHER_OUTLET_SAME_EVENT.replace("quarterly results", "latest earnings call")
    assert reloaded.add("d", signature(None, edited)) == "b"
    assert reloaded.add("e", signature("Netflix goes all in", None)) == "short"
    assert reloaded.add("b", signature(None, OTHER_OUTLET_SAME_EVENT)) is None


def test_batch_and_single_signatures_agree() -> None:
    docs = [(None, ORIGINAL), ("title only", None), (None, OTHER_OUTLET_SAME_EVENT)]
    batch = signatures(docs)
    for doc, sig in zip(docs, batch, strict=True):
        single = signature(*doc)
        assert sig.exact == single.exact and sig.shingles == single.shingles
        assert (sig.digest is None) == (single.digest is None)
        if sig.digest is not None and single.digest is not None:
            assert (sig.digest == single.digest).all()


def test_near_copies_are_looked_for_in_the_window_and_exact_copies_across_all_history() -> None:
    repost = "WIRE | " + ORIGINAL.replace("on Tuesday", "this week") + " More on our website."
    index = DedupIndex()
    index.today = "2026-09-01"
    index.add("old", signature("Netflix goes all in", ORIGINAL))
    assert index.prune("2026-10-24") == 1  # its signature is older than the window
    index.today = "2026-11-23"
    assert index.add("near", signature("Netflix bets on AI", repost)) is None  # not compared
    assert index.add("exact", signature("Netflix goes all in", ORIGINAL)) == "old"  # still caught
    again = DedupIndex.from_parquet(index.to_parquet(), "dedup.parquet")
    assert again.days == index.days and again.digests[0] is None
    assert again.add("exact-2", signature("Netflix goes all in", ORIGINAL)) == "old"


def test_signatures_loaded_from_the_state_are_pruned_like_those_added_since() -> None:
    """The window's signatures read back from the state and those added after are found
    alike, and pruning forgets both."""
    repost = "WIRE | " + ORIGINAL.replace("on Tuesday", "this week") + " More on our website."
    index = DedupIndex()
    index.today = "2026-10-01"
    index.add("loaded", signature(None, ORIGINAL))
    again = DedupIndex.from_parquet(index.to_parquet(), "dedup.parquet")
    again.today = "2026-10-20"
    again.add("added", signature(None, OTHER_OUTLET_SAME_EVENT))
    again.today = "2026-10-21"
    edited = OTHER_OUTLET_SAME_EVENT.replace("quarterly results", "latest earnings call")
    assert again.add("near-loaded", signature(None, repost)) == "loaded"
    assert again.add("near-added", signature(None, edited)) == "added"
    assert again.prune("2026-10-21") == 2  # both older than the window; today's stay
    assert again.digests[0] is None and again.digests[1] is None
    # Found through today's copies, which name the first copy (the roots stay).
    assert again.add("late-1", signature("x", repost + " Updated.")) == "loaded"
    assert again.add("late-2", signature("y", edited + " Updated.")) == "added"
    assert again.prune("2026-10-22") == 4
    assert again.add("late-3", signature("z", repost + " Corrected.")) is None
