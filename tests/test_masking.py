"""The masking rule: a masked version is the original with spans removed and marked, nothing
added, altered or moved; the server refuses anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from whistle import masking
from whistle.masking import MaskingError, Span

ORIGINAL = "Anna Berg på ekonomi tog emot 50 000 kr av Firma AB i maj."


def test_typed_markers_become_spans_and_marks() -> None:
    submitted = "[[32:3b]] på ekonomi tog emot 50 000 kr av [[17:3b]] i maj."
    spans = masking.verify(ORIGINAL, submitted)
    assert spans == [Span(0, 9, "32:3b"), Span(43, 51, "17:3b")]
    assert ORIGINAL[0:9] == "Anna Berg"
    assert ORIGINAL[43:51] == "Firma AB"
    assert masking.render(ORIGINAL, spans) == (
        "[maskerat, 32:3 b OSL] på ekonomi tog emot 50 000 kr av [maskerat, 17:3 b OSL] i maj."
    )


def test_a_rendered_version_verifies_again_and_can_be_extended() -> None:
    first = masking.render(ORIGINAL, [Span(0, 9, "32:3b")])
    assert masking.verify(ORIGINAL, first) == [Span(0, 9, "32:3b")]
    more = first.replace("Firma AB", "[[ 17:3b ]]")
    assert masking.render(ORIGINAL, masking.verify(ORIGINAL, more)).count("[maskerat") == 2


def test_textarea_line_ends_do_not_count_as_changes() -> None:
    original = "Rad ett\nRad två med Anna\nRad tre"
    submitted = "Rad ett\r\nRad två med [[32:3b]]\r\nRad tre"
    assert masking.verify(original, submitted) == [Span(20, 24, "32:3b")]


def test_unchanged_text_has_no_spans() -> None:
    assert masking.verify(ORIGINAL, ORIGINAL) == []


@pytest.mark.parametrize(
    "forged",
    [
        # added text
        "[[32:3b]] på ekonomi tog emot 50 000 kr av [[17:3b]] i maj. Han erkände.",
        "Oskyldig: [[32:3b]] på ekonomi tog emot 50 000 kr av Firma AB i maj.",
        # one letter altered
        "[[32:3b]] på ekonomi tog emot 60 000 kr av Firma AB i maj.",
        "[[32:3b]] på ekonomi tog inte emot 50 000 kr av Firma AB i maj.",
        # reordered
        "[[32:3b]] i maj på ekonomi tog emot 50 000 kr av Firma AB.",
        # text removed without a mark
        "[[32:3b]] på ekonomi tog emot kr av Firma AB i maj.",
        "Anna Berg på ekonomi tog emot 50 000 kr i maj.",
        # a mark where nothing was removed
        "[[32:3b]] på ekonomi [[17:3b]]tog emot 50 000 kr av Firma AB i maj.",
        "[[32:3b]]Anna Berg på ekonomi tog emot 50 000 kr av Firma AB i maj.",
    ],
)
def test_forged_versions_are_refused(forged: str) -> None:
    with pytest.raises(MaskingError) as caught:
        masking.verify(ORIGINAL, forged)
    assert caught.value.code == "altered"


def test_unknown_ground_is_refused() -> None:
    with pytest.raises(MaskingError) as caught:
        masking.verify(ORIGINAL, "[[99:9]] på ekonomi tog emot 50 000 kr av Firma AB i maj.")
    assert caught.value.code == "unknown-ground"
    with pytest.raises(MaskingError):
        masking.verify(ORIGINAL, "[maskerat, påhittad] på ekonomi tog emot 50 000 kr i maj.")


def test_bad_spans_are_refused() -> None:
    for spans in (
        [Span(0, 0, "32:3b")],
        [Span(5, 3, "32:3b")],
        [Span(0, 999, "32:3b")],
        [Span(0, 5, "32:3b"), Span(4, 8, "32:3b")],
        [Span(0, 5, "nope")],
    ):
        with pytest.raises(MaskingError):
            masking.render(ORIGINAL, spans)


# --- properties -------------------------------------------------------------------------------

TEXT = st.text(alphabet="abc ÅÄÖåäö\n.", min_size=1, max_size=60)
GROUND = st.sampled_from(sorted(masking.GROUNDS))


@st.composite
def masked_case(draw: st.DrawFn) -> tuple[str, list[Span]]:
    text = draw(TEXT)
    cuts = sorted(draw(st.sets(st.integers(0, len(text)), max_size=8)))
    pairs = list(zip(cuts[::2], cuts[1::2], strict=False))
    spans = [Span(a, b, draw(GROUND)) for a, b in pairs if b > a]
    # Two spans touching each other could read as one; the rule does not need them apart.
    return text, spans


def _literals(text: str, spans: list[Span]) -> list[str]:
    pieces, position = [], 0
    for span in spans:
        pieces.append(text[position : span.start])
        position = span.end
    pieces.append(text[position:])
    return pieces


@given(masked_case())
def test_every_true_masking_verifies_and_renders_identically(case: tuple[str, list[Span]]) -> None:
    text, spans = case
    masked = masking.render(text, spans)
    found = masking.verify(text, masked)
    assert masking.render(text, found) == masked


def _canonical(submitted: str) -> str:
    """The submission with every marker written as its rendered mark."""
    literals, grounds = masking._parse(masking.normalise(submitted))
    marks = [masking.mark(g) for g in grounds] + [""]
    return "".join(piece + m for piece, m in zip(literals, marks, strict=True))


@given(masked_case(), st.data())
def test_whatever_is_accepted_is_released_exactly_as_submitted(
    case: tuple[str, list[Span]], data: st.DataObject
) -> None:
    """Any edit at all of a masked version: if it is accepted, the server's rendering from the
    original and the accepted spans is exactly the submission, and each span removed text."""
    text, spans = case
    masked = masking.render(text, spans)
    position = data.draw(st.integers(0, len(masked)))
    insert = data.draw(st.text(alphabet="abc.x[]", max_size=3))
    cut = data.draw(st.integers(0, 3))
    edited = masked[:position] + insert + masked[position + cut :]
    try:
        found = masking.verify(text, edited)
    except MaskingError:
        return
    assert masking.render(text, found) == _canonical(edited)
    assert all(s.end > s.start for s in found)


@given(masked_case(), st.data())
def test_an_added_foreign_character_is_always_refused(
    case: tuple[str, list[Span]], data: st.DataObject
) -> None:
    text, spans = case
    masked = masking.render(text, spans)
    position = data.draw(st.integers(0, len(masked)))
    forged = masked[:position] + "Z" + masked[position:]  # Z is in no original
    with pytest.raises(MaskingError):
        masking.verify(text, forged)


@given(masked_case(), st.data())
def test_an_altered_character_is_always_refused(
    case: tuple[str, list[Span]], data: st.DataObject
) -> None:
    """Any one character, of the kept text or of a mark, altered into one no original holds."""
    text, spans = case
    masked = masking.render(text, spans)
    at = data.draw(st.integers(0, len(masked) - 1))
    forged = masked[:at] + "Q" + masked[at + 1 :]
    with pytest.raises(MaskingError):
        masking.verify(text, forged)


@given(st.permutations(list("abcdefghijklmnop")), st.data())
def test_reordered_pieces_are_refused(letters: list[str], data: st.DataObject) -> None:
    """With every character distinct, swapping two kept pieces can never match the original."""
    text = "".join(letters)
    a, b, c = sorted(data.draw(st.sets(st.integers(1, 15), min_size=3, max_size=3)))
    spans = [Span(a, b, "32:3b")]
    pieces = [text[:a], text[b:c], text[c:]]
    masked = masking.render(text, spans)
    assert masked == pieces[0] + masking.mark("32:3b") + pieces[1] + pieces[2]
    forged = pieces[0] + masking.mark("32:3b") + pieces[2] + pieces[1]
    with pytest.raises(MaskingError):
        masking.verify(text, forged)
