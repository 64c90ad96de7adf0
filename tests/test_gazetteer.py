"""Canonical parties found by the gazetteer: names, adjectives, demonyms, capitals."""

import pytest

from monitor.nlp import process


def parties(title, text=""):
    from monitor.gazetteer import matches

    doc = process(title, text)
    found = {(m.kind, m.country) for m in matches(doc)}
    found |= {(e._.kind, e._.country) for e in doc.ents}
    return found


@pytest.mark.parametrize("text,kind,country", [
    ("Переговоры с Российской Федерацией", "country", "RU"),
    ("Позиция РФ не изменилась", "country", "RU"),
    ("Санкции США", "country", "US"),
    ("Поставки в Соединённые Штаты Америки", "country", "US"),
    ("Делегация КНДР", "country", "KP"),
    ("Соглашение с Южной Кореей", "country", "KR"),
    ("Проекты японских компаний", "country_adj", "JP"),
    ("Китайские инвесторы пришли", "country_adj", "CN"),
    ("Японцы приехали во Владивосток", "demonym", "JP"),
    ("Туристы из Белоруссии", "country", "BY"),
    ("Инвестиции в Подмосковье", "region", "RU"),
    ("Нефтяники Югры", "region", "RU"),
    ("Газ для ХМАО", "region", "RU"),
    ("Уголь Кузбасса", "region", "RU"),
    ("Делегация провинции Хэйлунцзян", "region", "CN"),
    ("Заявление ООН", "intl_org", None),
    ("Саммит ШОС", "intl_org", None),
    ("Встреча БРИКС", "intl_org", None),
    ("Страны ЕАЭС", "intl_org", None),
    ("Эксперты МАГАТЭ", "intl_org", None),
])
def test_gazetteer_kinds(text, kind, country):
    assert (kind, country) in parties(text)


def test_compound_adjective_gives_both_countries():
    found = parties("Итоги российско-японского сотрудничества")
    assert ("country_adj", "RU") in found and ("country_adj", "JP") in found


def test_lowercase_common_words_are_not_names():
    # "мир" (peace/world) and "союз" (union) in lower case are not parties
    assert parties("В мире заключили союз", "") == set()


def test_lemma_table_is_up_to_date():
    """data/lemma_variants.json (read at start-up instead of asking pymorphy3) must equal
    what pymorphy3 gives today; after editing the data, regenerate it with
    `python -c "from monitor import gazetteer; gazetteer.write_lemma_table()"`."""
    from monitor import gazetteer

    assert gazetteer._lemma_table() == gazetteer.compute_lemma_table()


def test_word_missing_from_lemma_table_is_asked_of_pymorphy():
    from monitor import gazetteer, morph

    assert "Тьмутаракани" not in gazetteer._lemma_table()
    assert gazetteer._variants("Тьмутаракани") == sorted(morph.lemma_variants("Тьмутаракани"))
    assert "тьмутаракань" in gazetteer._variants("Тьмутаракани")


@pytest.mark.parametrize("text,country", [
    ("Распад СССР изменил карту Европы.", "SU"),
    ("Советский Союз запустил спутник.", "SU"),
    ("Папа вернулся в Ватикан.", "VA"),
    ("Делегация Абхазии прибыла в Сочи.", "AB"),
    ("Власти Южной Осетии заявили о выборах.", "OS"),
    ("Власти Приднестровья ответили Кишинёву.", "MD"),  # a region of Moldova
    ("Российская империя и Японская империя заключили мир.", "RU"),
    ("Российская империя и Японская империя заключили мир.", "JP"),
    ("Fans of Russia came.", "RU"),
])
def test_historical_and_partly_recognised_states(text, country):
    assert country in {c for _, c in parties(text)}


@pytest.mark.parametrize("text,country,other", [
    ("Президент ДРК прибыл в Брюссель. Армия Конго отступила от Гомы.", "CD", "CG"),
    ("Власти Конго ответили Киншасе.", "CD", "CG"),
    ("Власти Конго в Браззавиле ответили.", "CG", "CD"),
    ("Бои в Конго продолжаются.", "CG", "CD"),  # no cue: pycountry's Конго
])
def test_congo_is_chosen_by_the_words_around(text, country, other):
    from monitor.analysis import analyse

    [congo] = [e for e in analyse("", text).entities if e.text == "Конго"]
    assert congo.country == country
    found = {c for _, c in parties(text)}
    assert country in found and other not in found


def test_added_states_have_checked_codes_and_names():
    from monitor import gazetteer

    names = gazetteer.country_names()
    assert (names["SU"], names["AB"], names["OS"], names["VA"], names["RU"]) == \
        ("СССР", "Абхазия", "Южная Осетия", "Ватикан", "Россия")
