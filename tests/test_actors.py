"""People and institutions acting for a state (`actors`, `data/officials.yaml`)."""

import pytest

from monitor import nlp
from monitor.actors import known_people, officials
from monitor.analysis import analyse


def _people(text: str) -> dict[str, str | None]:
    doc = nlp.process("", text, detect=False)
    return {ent._.normal: ent._.country for ent in doc.ents if ent.label_ == "PER"}


@pytest.mark.parametrize("text,person,country", [
    # a head of state or government by name, from the maintained list
    ("Си Цзиньпин встретился с журналистами.", "Си Цзиньпин", "CN"),
    ("Журналисты спросили Эрдогана о планах.", "Эрдоган", "TR"),
    # a minister by role: the country beside the role, the name after it
    ("Глава МИД Сербии Марко Джурич прибыл в Москву.", "Марко Джурич", "RS"),
    ("Министр обороны Литвы Довиле Шакалене заявила о закупках.", "Довиле Шакалене", "LT"),
    # the role as an apposition after the name, and a country adjective
    ("Марко Джурич, министр иностранных дел Сербии, прибыл в Москву.", "Марко Джурич", "RS"),
    ("Сербский министр Марко Джурич прибыл в Москву.", "Марко Джурич", "RS"),
])
def test_officials_act_for_their_state(text, person, country):
    assert _people(text).get(person) == country


def test_a_role_makes_the_name_an_actor_for_the_rest_of_the_text():
    people = _people("Глава МИД Сербии Марко Джурич прибыл в Москву. Джурич провёл переговоры.")
    assert people == {"Марко Джурич": "RS", "Джурич": "RS"}


def test_a_person_without_role_or_listing_acts_for_no_state():
    assert _people("Иван Петров открыл выставку в Казани.") == {"Иван Петров": None}


def test_a_surname_listed_under_two_countries_needs_more():
    surnames = {}
    for code, names in officials()["people"].items():
        for name in names:
            surnames.setdefault(name.lower().replace("ё", "е"), set()).add(code)
    ambiguous = [name for name, codes in surnames.items() if len(codes) > 1]
    assert all(name not in known_people() for name in ambiguous)


@pytest.mark.parametrize("title,countries", [
    # the examples: officials are actors
    ("Лавров и Ван И договорились расширять сотрудничество в энергетике", ["CN", "RU"]),
    ("Мишустин и премьер Вьетнама обсудили совместные проекты в энергетике", ["RU", "VN"]),
    ("Си Цзиньпин и Лула да Силва подписали совместное заявление об укреплении "
     "стратегического партнерства", ["BR", "CN"]),
    # metonymy: a state's seat or institution, and capitals, act for it
    ("Кремль и Белый дом договорились о продлении договора", ["RU", "US"]),
    ("Пентагон передаст Украине новый пакет военной помощи", ["UA", "US"]),
    ("Москва и Пекин договорились о расширении сотрудничества", ["CN", "RU"]),
    # country adjectives as actors
    ("Российские и индийские военные провели совместные учения", ["IN", "RU"]),
])
def test_actors_give_the_cooperating_countries(title, countries):
    result = analyse(title, "")
    assert result.is_cooperation
    assert result.countries == countries


def test_a_seat_of_government_is_a_place_of_its_country():
    doc = nlp.process("", "На Даунинг-стрит заявили о поддержке.", detect=False)
    from monitor.gazetteer import matches

    assert [(m.kind, m.country) for m in matches(doc)] == [("capital", "GB")]


@pytest.mark.parametrize("text,expected", [
    # a role phrase does not reach past a conjunction or another person
    ("Президент Турции Эрдоган и Владимир Путин обсудили сотрудничество.",
     {"Эрдоган": "TR", "Владимир Путин": "RU"}),
    ("Лавров и госсекретарь США Блинкен договорились о встрече.",
     {"Лавров": "RU", "Блинкен": "US"}),
    ("Глава МИД России Сергей Лавров и Ван И договорились о сотрудничестве.",
     {"Сергей Лавров": "RU", "Ван И": "CN"}),
])
def test_a_role_belongs_to_the_name_next_to_it(text, expected):
    assert _people(text) == expected


def test_country_keyed_files_refuse_unquoted_no():
    """YAML reads an unquoted NO (Norway) as False: every country-keyed file is checked."""
    import yaml

    from monitor.gazetteer import country_keyed, entries

    with pytest.raises(ValueError, match="quote NO"):
        country_keyed(yaml.safe_load("NO: [Осло]"), "test.yaml")
    norway = {e.country for e in entries()["норвежский"]}
    assert norway == {"NO"}
    assert analyse("Норвежские и российские рыбаки договорились о квотах", "").countries \
        == ["NO", "RU"]


def test_a_role_after_a_comma_must_be_a_noun_phrase():
    """"Асада, в разговоре с президентом ОАЭ": a prepositional phrase after the comma is
    no apposition, so the UAE's president is not Асад's role."""
    people = _people("Как сообщает телеграм-канал Асада, в телефонном разговоре с президентом "
                     "ОАЭ шейхом Мухаммедом бен Заидом президент Сирии сказал это.")
    assert people.get("Асад") == "SY"
