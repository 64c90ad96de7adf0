import pytest

from monitor.limits import MAX_ANALYSIS_CHARS, MAX_TITLE_CHARS, cut_for_analysis, \
    cut_title_and_text

SENTENCE = "Россия и Япония обсудили сотрудничество в сфере водоочистки. "


def test_a_text_within_the_cap_is_analysed_whole():
    text = SENTENCE * 10
    assert cut_for_analysis(text) == (text, False)
    exact = "я" * MAX_ANALYSIS_CHARS
    assert cut_for_analysis(exact) == (exact, False)


def test_a_long_text_is_cut_at_the_last_paragraph_near_the_cap():
    paragraph = (SENTENCE * 30).strip()
    text = "\n".join([paragraph] * 200)  # about 370,000 characters
    cut, was_cut = cut_for_analysis(text)
    assert was_cut and text.startswith(cut)  # a prefix: entity offsets stay valid
    assert 0.9 * MAX_ANALYSIS_CHARS <= len(cut) <= MAX_ANALYSIS_CHARS
    assert text[len(cut)] == "\n" and cut.endswith("водоочистки.")


def test_without_paragraphs_the_cut_ends_a_sentence():
    text = SENTENCE * 5000
    cut, was_cut = cut_for_analysis(text)
    assert was_cut and text.startswith(cut) and cut.endswith("водоочистки.")
    assert 0.9 * MAX_ANALYSIS_CHARS <= len(cut) <= MAX_ANALYSIS_CHARS


@pytest.mark.parametrize("text,next_char", [
    ("слово " * 50_000, " "),  # no sentence end: at the last space
    ("я" * 300_000, "я"),  # one endless word: at the cap itself
])
def test_without_sentences_the_cut_falls_on_a_space_or_the_cap(text, next_char):
    cut, was_cut = cut_for_analysis(text)
    assert was_cut and text.startswith(cut) and text[len(cut)] == next_char
    assert MAX_ANALYSIS_CHARS - 6 <= len(cut) <= MAX_ANALYSIS_CHARS


def test_title_and_text_are_cut_each_to_its_own_cap():
    title, text, cut = cut_title_and_text("Заголовок " * 500, "Текст.")
    assert cut and len(title) <= MAX_TITLE_CHARS and text == "Текст."
    assert cut_title_and_text("Заголовок", "Текст.") == ("Заголовок", "Текст.", False)
    assert cut_title_and_text(None, None) == ("", "", False)
