import pytest

from monitor.text import canonical_url, clean_article, dedupe_paragraphs, html_to_text


@pytest.mark.parametrize("markup,text", [
    ("<p>Один.</p><p>Два &amp; три</p>", "Один.\nДва & три"),
    ("Строка<br/>вторая", "Строка\nвторая"),
    ("<div>Текст<script>alert(1)</script> <style>p{}</style>конец</div>", "Текст конец"),
    ("&laquo;Росатом&raquo;&nbsp;и партнёры", "«Росатом» и партнёры"),
    ("<p>незакрытый <b>тег", "незакрытый тег"),
    ("", ""),
    # control characters, lone surrogates and non-characters are no text (XML refuses them)
    ("Текст\x01 с\x08 управляющими\x00 символами\x7f\x9b", "Текст с управляющими символами"),
    ("Вертикальная\x0bтабуляция и\x0cразрыв страницы", "Вертикальная табуляция и разрыв страницы"),
    ("Суррогат \ud800 и \ufffe не\uffff символы", "Суррогат и не символы"),
])
def test_html_to_text(markup, text):
    assert html_to_text(markup) == text


def test_repeated_paragraphs_are_kept_once(seed_article):
    title, text = seed_article
    assert text.count("Напомним, летом 2019 года") == 2
    _, cleaned = clean_article(title, text)
    assert cleaned.count("Напомним, летом 2019 года") == 1
    assert cleaned.count("Замминистра также отметил") == 1
    assert "пояснил Егоров" in cleaned


def test_dedupe_ignores_case_and_punctuation_only_differences():
    text = "Первый абзац.\nВторой абзац!\nпервый  абзац\nТретий"
    assert dedupe_paragraphs(text) == "Первый абзац.\nВторой абзац!\nТретий"


def test_body_repeating_the_title_is_dropped():
    assert clean_article("Заголовок новости", "Заголовок новости.\nТекст.") == (
        "Заголовок новости", "Текст.")


@pytest.mark.parametrize("url,canonical", [
    ("https://tass.ru/ekonomika/1?utm_source=yandex&utm_medium=rss",
     "https://tass.ru/ekonomika/1"),
    ("HTTPS://RIA.RU:443/a?b=2&a=1#comments", "https://ria.ru/a?a=1&b=2"),
    ("http://x.ru:8080/p?id=5&yclid=99", "http://x.ru:8080/p?id=5"),
    ("https://x.ru", "https://x.ru/"),
    (None, None),
    # IPv6 literals keep their brackets (without them the URL means another host or none)
    ("http://[::1]:8080/a?utm_source=x", "http://[::1]:8080/a"),
    ("HTTP://[2001:DB8::1]/a", "http://[2001:db8::1]/a"),
    ("https://[::1]:443/", "https://[::1]/"),
    # unusable links are kept as given (they still name the item) and never raise
    ("http://::1:8080/a", "http://::1:8080/a"),
    ("http://x.ru:99999/a", "http://x.ru:99999/a"),
    ("http://x.ru:port/a", "http://x.ru:port/a"),
    ("http://[::1/a", "http://[::1/a"),
    ("  javascript:alert(1) ", "javascript:alert(1)"),
    ("http:///path", "http:///path"),
])
def test_canonical_url(url, canonical):
    assert canonical_url(url) == canonical
