"""Normal forms where plain Natasha fails, each case from the issue, plus linking."""

import pytest

from monitor.analysis import analyse


def entity(text, mention):
    for e in analyse("", text).entities:
        if text[e.start:e.stop] == mention or mention in e.text:
            return e
    raise AssertionError(f"{mention!r} not found in {[e.text for e in analyse('', text).entities]}")


@pytest.mark.parametrize("text,mention,normal", [
    # ORG names with genitive dependents stay as written
    ("Делегация Министерства земли, инфраструктуры и транспорта Японии прибыла в Москву.",
     "Министерства земли", "Министерство земли, инфраструктуры и транспорта Японии"),
    ("Представители Министерства иностранных дел провели брифинг.",
     "Министерства иностранных дел", "Министерство иностранных дел"),
    # hyphenated compounds
    ("Итоги обсудят на заседании Российско-Японской рабочей группы в Токио.",
     "Российско-Японской рабочей группы", "Российско-Японская рабочая группа"),
    ("Делегация Кабардино-Балкарии посетила выставку.", "Кабардино-Балкарии",
     "Кабардино-Балкария"),
    # plural-only and indeclinable names
    ("Выставка российских технологий открылась в Нидерландах.", "Нидерландах", "Нидерланды"),
    ("Компания открыла офис в Объединённых Арабских Эмиратах.",
     "Объединённых Арабских Эмиратах", "Объединённые Арабские Эмираты"),
    ("Инвесторы из Тоттори заинтересовались проектом.", "Тоттори", "Тоттори"),
    ("Партнёры из Чили предложили поставки.", "Чили", "Чили"),
    # plural surnames, and surnames that do not decline
    ("Дом супругов Ивановых стал музеем.", "Ивановых", "Ивановы"),
    ("Выставка посвящена династии Строгановых.", "Строгановых", "Строгановы"),
    ("Губернатор Приморья Олег Кожемяко встретился с делегацией.", "Олег Кожемяко",
     "Олег Кожемяко"),
    ("Письмо подписал Александр Черных.", "Александр Черных", "Александр Черных"),
    ("Встреча с Анной Егоровой прошла в мэрии.", "Анной Егоровой", "Анна Егорова"),
])
def test_normal_forms(text, mention, normal):
    assert entity(text, mention).normal == normal


@pytest.mark.parametrize("text,mention,normal,country", [
    ("Замминистра Минстроя России встретился с японской делегацией.", "Минстроя",
     "Минстрой России", "RU"),
    ("Представитель МИД РФ прокомментировал визит.", "МИД", "МИД РФ", "RU"),
    ("Заявление Минфина США вызвало вопросы.", "Минфина", "Минфин США", "US"),
])
def test_org_split_from_its_country_is_merged(text, mention, normal, country):
    e = entity(text, mention)
    assert (e.type, e.normal, e.country) == ("ORG", normal, country)
    assert text[e.start:e.stop] == e.text
    assert e.text.startswith(mention) and len(e.text.split()) == 2  # "Минстроя России"
    # one entity, not an ORG plus a separate LOC for the country
    assert not [x for x in analyse("", text).entities
                if x.type == "LOC" and x.start >= e.start and x.stop <= e.stop]


@pytest.mark.parametrize("text,mention,canonical,country", [
    ("Делегация прибыла из Японии.", "Японии", "Япония", "JP"),
    ("Переговоры с КНР продолжатся.", "КНР", "Китай", "CN"),
    ("Поставки в ОАЭ выросли.", "ОАЭ", "ОАЭ", "AE"),
    ("Губернатор Приморья провёл совещание.", "Приморья", "Приморский край", "RU"),
    ("Власти Югры утвердили бюджет.", "Югры", "Ханты-Мансийский автономный округ — Югра", "RU"),
    ("Инвесторы из префектуры Тоттори приехали в город.", "Тоттори", "Тоттори", "JP"),
])
def test_entities_link_to_canonical_parties(text, mention, canonical, country):
    e = entity(text, mention)
    assert (e.canonical.removeprefix("префектура "), e.country) == (canonical, country)


def test_offsets_point_into_title_and_text():
    title, text = "Россия и Япония", "Встреча прошла в Токио. Затем делегация уехала в Осаку."
    for e in analyse(title, text).entities:
        source = title if e.in_title else text
        assert source[e.start:e.stop] == e.text


@pytest.mark.parametrize("text,mention,country", [
    ("Минцифры и Сбер запустили платформу.", "Минцифры", "RU"),  # NER says LOC
    ("Минцифры и Сбер запустили платформу.", "Сбер", "RU"),
    ("Минцифры и Казахстан договорились о признании подписей.", "Минцифры", "RU"),  # NER: PER
    ("Университет Нагои и МГУ открыли лабораторию.", "Университет Нагои", "JP"),  # a city
])
def test_known_organisations_and_their_countries(text, mention, country):
    e = entity(text, mention)
    assert (e.type, e.country) == ("ORG", country)
