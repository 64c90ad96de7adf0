"""Markup cleaning before analysis: what goes, what stays, and the way back to the offsets."""

import json

import pytest

from conftest import DATA
from monitor.analysis import analyse, prepare
from monitor.markup import clean, split_headline

POSTS = [json.loads(line) for line in
         (DATA / "tg-news" / "posts.jsonl").read_text(encoding="utf-8").splitlines()]


def _maps_back(original: str, cleaned) -> bool:
    """Every cleaned character is the original character at its position (or a space
    standing for removed text)."""
    return all(ch == " " or original[cleaned.positions[i]] == ch
               for i, ch in enumerate(cleaned.text))


@pytest.mark.parametrize("raw,expected", [
    ("**⚡️Россия и Япония** подписали соглашение", "Россия и Япония подписали соглашение"),
    ("__Читать__ [нас](https://bbc.com/x) здесь", "Читать нас здесь"),
    ("Текст\n\n[👉 Топор Live. Подписаться](https://t.me/+HWFlcuXhzKdhYWY6)", "Текст"),
    ("Текст\n\n❗️ [Подписывайся на Mash](https://t.me/+mBgDVq0QTftmY2Ji)", "Текст"),
    ("Текст\n📩 [Прислать новость](https://t.me/shot_go)", "Текст"),
    ("Текст\n__Читать нас без VPN можно здесь: ____bit.ly/bbcrussian__", "Текст"),
    ("Интервью: https://naked-science.ru/article/x", "Интервью:"),
    ("Новости #Китай и @channel_name сегодня", "Новости Китай и сегодня"),
    ("слово🔥слово", "слово слово"),
    ("Текст\n\n\n\nЕщё   текст ", "Текст\n\nЕщё текст"),
])
def test_markup_removed(raw, expected):
    cleaned = clean(raw)
    assert cleaned.text == expected
    assert _maps_back(raw, cleaned)


def test_real_posts_lose_their_footers_and_markup():
    for post in POSTS:
        cleaned = clean(post["text"])
        assert _maps_back(post["text"], cleaned)
        assert "**" not in cleaned.text and "](" not in cleaned.text
        assert "Подпис" not in cleaned.text and "t.me/" not in cleaned.text
        assert len(cleaned.positions) == len(cleaned.text) + 1


@pytest.mark.parametrize("text,headline", [
    ("Заголовок новости\n\nТекст новости.", "Заголовок новости"),
    ("Одна строка без текста", ""),  # nothing after it: the line is the text
    ("А" * 400 + "\nтекст", ""),  # a paragraph, not a headline
])
def test_a_text_without_title_takes_its_first_line_as_headline(text, headline):
    assert split_headline(clean(text))[0] == headline


def test_offsets_index_the_stored_text():
    """A post as stored (markup, no title): the analysis reads it cleaned, with a headline,
    and every entity's offsets still index the stored text."""
    text = ("**⚡️Россия и Япония будут сотрудничать** в сфере водоочистки\n\n"
            "Соглашение [подписали в Токио](https://example.org/a), сообщил **Лавров**.\n\n"
            "[👉 Топор Live. Подписаться](https://t.me/+HWFlcuXhzKdhYWY6)")
    prepared = prepare("", text)
    assert prepared.title == "Россия и Япония будут сотрудничать в сфере водоочистки"
    assert prepared.text == "Соглашение подписали в Токио, сообщил Лавров."
    result = analyse("", text)
    found = {e.text: (e.in_title, e.start, e.stop) for e in result.entities}
    for name in ("Россия", "Япония", "Токио", "Лавров"):
        start = text.index(name)  # the stored title is empty: all offsets are the text's
        assert found[name] == (False, start, start + len(name))


def test_an_entity_across_markup_keeps_its_read_text_and_stored_offsets():
    text = "Сергей **Лавров** и Минстрой **России** подписали меморандум."
    result = analyse("Новости", text)
    [person] = [e for e in result.entities if e.type == "PER"]
    assert person.text == "Сергей Лавров"  # as read, across the removed markup
    assert (person.start, person.stop) == (0, text.index("Лавров") + len("Лавров"))
    [ministry] = [e for e in result.entities if e.text == "Минстрой"]
    assert ministry.party == "Минстрой России"
    [russia] = [e for e in result.entities if e.text == "России"]
    assert text[russia.start:russia.stop] == "России"


def test_a_title_repeated_as_the_first_line_is_read_once():
    """parse.py gives a title-less entry its first line as the title and keeps the line in
    the text; the analysis reads it once, and text offsets still index the stored text."""
    text = "Россия и Китай подписали соглашение\n\nДокумент подписали в Пекине."
    prepared = prepare("Россия и Китай подписали соглашение", text)
    assert prepared.text == "Документ подписали в Пекине."
    result = analyse("Россия и Китай подписали соглашение", text)
    [beijing] = [e for e in result.entities if e.text == "Пекине"]
    assert not beijing.in_title and text[beijing.start:beijing.stop] == "Пекине"
    assert sum(e.text == "Россия" for e in result.entities) == 1  # the title's only


def test_a_stored_title_keeps_its_own_offsets():
    result = analyse("**Россия** и Китай", "Москва и Пекин подписали соглашение.")
    russia = next(e for e in result.entities if e.text == "Россия")
    assert russia.in_title and (russia.start, russia.stop) == (2, 8)


def test_emoji_found_as_the_emoji_package_finds_them():
    """The fast scanner agrees with the `emoji` package's own (keycaps, flags, ZWJ
    sequences and variation selectors included)."""
    import emoji

    from monitor.markup import emoji_spans

    texts = [p["text"] for p in POSTS] + [
        "Нажмите 1️⃣ или #️⃣, а не 2024 и #тег ©", "👨‍👩‍👧 семья 🇷🇺🇯🇵 флаги ❗️ ‼️ ⚡️",
        "Без эмодзи — только «кавычки» и тире…"]
    for text in texts:
        assert emoji_spans(text) == [(e["match_start"], e["match_end"])
                                     for e in emoji.emoji_list(text)]
