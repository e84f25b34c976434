"""User input quoted in error messages: short and escaped, however long or strange the input."""
import pytest

from nst_core.contract.errors import QUOTE_LIMIT, InvalidInput, quote
from nst_core.contract.options import StyleOptions, resolve


def test_short_input_is_quoted_whole():
    assert quote("ultra") == "'ultra'" and quote(1.5) == "1.5"


def test_long_input_is_cut_and_says_how_long_it_was():
    text = quote("x" * 1_000_000)
    assert len(text) < QUOTE_LIMIT + 40 and text.endswith("(1000000 characters)")


def test_control_characters_are_escaped():
    assert "\x1b" not in quote("\x1b[2J") and "\\x1b" in quote("\x1b[2J")


@pytest.mark.parametrize("options", [dict(preset="p" * 100_000), dict(optimizer="o" * 100_000),
                                     dict(style_layers=("l" * 100_000,))])
def test_option_errors_quote_at_most_a_short_prefix(options):
    with pytest.raises(InvalidInput) as info:
        resolve(StyleOptions(**options))
    assert len(info.value.message) < 600 and "characters)" in info.value.message
