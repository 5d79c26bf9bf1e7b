"""The hot path's hand-written parsers agree with the standard library's general ones."""

from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import parse_qsl, urlencode

from hypothesis import given
from hypothesis import strategies as st

from switchboard.ingress.mappers.twilio import _time, _utc_rfc2822
from switchboard.ingress.webhooks.common import form_pairs

FORM_ALPHABET = st.sampled_from(
    [*"ab=&+%20é;x", "%2", "%zz", "%C3%A9", "%FF", "%2B", "%2b", "%3A", "%7f", "%26", "%3D"]
)


@given(st.lists(FORM_ALPHABET, max_size=30).map("".join))
def test_form_pairs_parse_any_text_like_parse_qsl(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(), st.text()), max_size=8))
def test_form_pairs_read_back_any_encoded_form(pairs: list[tuple[str, str]]) -> None:
    assert form_pairs(urlencode(pairs)) == pairs


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))  # noqa: DTZ001
def test_twilio_timestamps_parse_like_the_email_parser(moment: datetime) -> None:
    text = format_datetime(moment.replace(microsecond=0, tzinfo=UTC))
    assert _utc_rfc2822(text) == parsedate_to_datetime(text)
    assert _time(text) == moment.replace(microsecond=0, tzinfo=UTC)


@given(st.text(alphabet=st.sampled_from(list("MonTueNov, 0123456789:+-٢"))))
def test_the_fast_timestamp_path_never_disagrees(text: str) -> None:
    fast = _utc_rfc2822(text)
    if fast is not None:
        assert fast == parsedate_to_datetime(text)


def test_other_rfc2822_forms_fall_back_to_the_general_parser() -> None:
    assert _utc_rfc2822("Mon, 23 Nov 2026 15:00:00 +0200") is None
    assert _time("Mon, 23 Nov 2026 15:00:00 +0200") == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert _utc_rfc2822("Mon, 31 Feb 2026 13:00:00 +0000") is None
