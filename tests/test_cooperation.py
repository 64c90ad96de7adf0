"""The cooperation detector: the seed story, the parties, and the hard negatives."""

import pytest

from monitor.analysis import analyse, prepare
from monitor.entities import party_spans
from monitor.text import clean_article


def test_seed_article(seed_article):
    title, text = clean_article(*seed_article)
    result = analyse(title, text)
    assert result.is_cooperation is True and result.cooperation_score >= 0.9
    assert result.scope == "international"
    assert result.countries == ["JP", "RU"]
    names = {p["name"] for p in result.parties}
    assert "Российско-Японская рабочая группа" in names
    assert {"Россия", "Япония"} <= names
    # the evidence is a sentence of the text as analysed (markup removed)
    assert result.evidence in prepare(title, text).text
    assert "сотрудничеств" in result.evidence.lower()
    for party in result.parties:
        assert set(party) == {"name", "kind", "country"}
        assert party["kind"] in {"country", "region", "city", "org", "intl_org", "person"}


@pytest.mark.parametrize("title,text,countries,scope", [
    ("Москва и Пекин договорились о расширении сотрудничества в энергетике", "", ["CN", "RU"],
     "international"),
    ("Татарстан и Башкирия подписали соглашение о сотрудничестве",
     "Документ подписали главы регионов в Казани.", ["RU"], "domestic"),
    ("Минздрав России и ВОЗ договорились о сотрудничестве",
     "Стороны подписали меморандум о борьбе с туберкулёзом.", ["RU"], "international"),
    ("«Газпром» и китайская CNPC подписали соглашение о поставках газа", "", ["CN", "RU"],
     "international"),
    # a short ministry name the NER model reads as PER or LOC is a Russian organisation
    ("Минпромторг и Узбекистан договорились о сотрудничестве в текстильной отрасли", "",
     ["RU", "UZ"], "international"),
    # "X России и Монголии": both countries; "ведомства двух стран" points back to them
    ("Минобрнауки России и Монголии будут вместе готовить инженеров",
     "Ведомства двух стран подписали соглашение о совместных программах.", ["MN", "RU"],
     "international"),
    # the title names the foreign side; the body names only the organisations
    ("Новосибирские учёные и китайский университет создадут лабораторию",
     "Институт катализа СО РАН и Университет Цинхуа договорились о совместных исследованиях.",
     ["CN", "RU"], "international"),
    # «черное золото» is oil, not a blacklist: no sanction that would negate the deal
    ("Поставки «черного золота» в Китай выросли",
     "Россия и Китай договорились о расширении поставок нефти по нефтепроводу.", ["CN", "RU"],
     "international"),
])
def test_cooperation_parties_and_scope(title, text, countries, scope):
    result = analyse(title, text)
    assert result.is_cooperation
    assert result.countries == countries
    assert result.scope == scope


@pytest.mark.parametrize("title,text", [
    ("Сборная России обыграла команду Японии", "Матч завершился со счётом 3:1."),
    ("США ввели санкции против российских банков", "Минфин США расширил санкционный список."),
    ("Израиль нанёс удары по объектам в Сирии", "Армия сообщила об ударах по складам."),
    ("Россия выслала японских дипломатов", "МИД России объявил двух сотрудников посольства "
     "Японии персонами нон грата."),
    ("США повысили пошлины на китайские товары", "Пекин пообещал ответные меры."),
    ("Сбербанк приобрёл контрольный пакет акций турецкого банка",
     "Сделка по покупке DenizBank завершена."),
    ("Россия приостановила сотрудничество с Японией",
     "Москва прекратила консультации о совместной деятельности."),
    ("Финляндия прекратила приграничное сотрудничество с Россией",
     "Финские власти заморозили программы."),
    ("Казахстан не будет сотрудничать с иностранными компаниями по АЭС",
     "Правительство отказалось от участия иностранцев."),
    ("В Уссурийске задержали подозреваемого в краже",
     "Сотрудники транспортной полиции совместно с полицией Уссурийска задержали вора."),
])
def test_hard_negatives(title, text):
    result = analyse(title, text)
    assert result.is_cooperation is False
    assert result.countries == [] and result.parties == [] and result.evidence is None


def test_score_is_a_probability():
    scores = [analyse(t, "").cooperation_score for t in (
        "Россия и Япония подписали соглашение о сотрудничестве", "Погода в Москве")]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores[0] > scores[1]


def _cues(text):
    from monitor import cooperation, nlp

    doc = nlp.process("", text)
    return [cooperation.sentence_cues(doc, sent, party_spans(doc)) for sent in doc.sents]


@pytest.mark.parametrize("text,develop", [
    # the noun of a "develop" verb counts like the verb ("укрепление связей")
    ("Проект способствует укреплению связей между странами.", True),
    ("Стороны обсудили расширение сотрудничества.", True),
    ("Министры договорились развивать отношения.", True),
    # but only with cooperation as its object, not anywhere in the sentence
    ("Совет по развитию информационного общества обсудил ход проекта.", False),
])
def test_develop_cue_needs_its_object(text, develop):
    assert _cues(text)[0].develop_coop is develop


def test_strengthening_ties_between_two_countries_is_cooperation():
    result = analyse("Россия начала качать нефть в Казахстан",
                     "Сделка способствует укреплению связей между странами.")
    assert result.is_cooperation and result.countries == ["KZ", "RU"]


@pytest.mark.parametrize("title,text,countries", [
    # what the parties fight is the goal of their cooperation, not a crime report
    ("Россия и Китай договорились о совместной борьбе с наркотиками и коррупцией",
     "Стороны подписали меморандум.", ["CN", "RU"]),
    ("МВД России и Казахстана объединят усилия в противодействии мошенничеству", "",
     ["KZ", "RU"]),
])
def test_fighting_crime_together_is_cooperation(title, text, countries):
    result = analyse(title, text)
    assert result.is_cooperation and result.countries == countries
    assert result.cooperation_score >= 0.9


def test_fight_words_are_not_negative_cues():
    cues = _cues("Стороны договорились о борьбе с коррупцией и терроризмом.")[0]
    assert cues.negative == {}
    assert _cues("Полиция задержала подозреваемого в коррупции.")[0].negative


def test_no_country_is_guessed_for_an_organisation_called_international():
    result = analyse("Международная федерация футбола и Интерпол подписали соглашение", "")
    kinds = {p["name"]: (p["kind"], p["country"]) for p in result.parties}
    assert kinds["Международная федерация футбола"] == ("org", None)
    assert kinds["Интерпол"] == ("intl_org", None)
    assert result.scope == "international" and result.countries == []


@pytest.mark.parametrize("title,text,cooperation", [
    # a link built or opened between two countries is a joint project...
    ("Подводный кабель соединит Чили и Японию",
     "Прокладку линии по дну Тихого океана начнут в будущем году.", True),
    ("Казахстан начал поставлять электроэнергию в Киргизию по новой ЛЭП",
     "Линия электропередачи связала энергосистемы Казахстана и Киргизии.", True),
    # ...a link that is only mentioned, damaged or stopped is not
    ("Туристы жалуются на цены паромов из Финляндии в Эстонию",
     "Билет на паром из Хельсинки в Таллин подорожал на треть.", False),
    ("Повреждён газопровод между Финляндией и Эстонией",
     "На дне Балтийского моря обнаружены следы якоря.", False),
    ("Польша остановила прокачку нефти по нефтепроводу из России",
     "Поставки через трубопровод прекращены.", False),
])
def test_links_between_two_countries(title, text, cooperation):
    assert analyse(title, text).is_cooperation is cooperation


def test_leaving_needs_from():
    """"вышли из соглашения" ends cooperation; "выйдет на полную мощность" does not."""
    assert analyse("США вышли из соглашения о сотрудничестве с Россией", "").is_cooperation \
        is False
    cues = _cues("Россия и Китай подписали соглашение, и газопровод выйдет на полную мощность.")
    assert not cues[0].negated
    assert _cues("Япония вышла из соглашения с Россией.")[0].negated


@pytest.mark.parametrize("text,joint", [
    # a compound of two countries is a joint adjective...
    ("Российско-японская рабочая группа собралась в Токио.", 1),
    # ...a compound of directions or of fields is not
    ("Полпред в Северо-Кавказском федеральном округе и глава Чечни приняли участие.", 0),
    ("Научно-технический центр в Москве и институт в Казани открыли выставку.", 0),
])
def test_only_compounds_of_countries_are_joint(text, joint):
    assert _cues(text)[0].joint == joint


@pytest.mark.parametrize("text", [
    "Япония отказалась возобновить переговоры по мирному договору с Россией.",
    "Власти Литвы отказались продлевать действие соглашения о сотрудничестве с Китаем.",
])
def test_an_ending_verb_further_up_the_clause_negates(text):
    assert _cues(text)[0].negated


def test_an_ending_verb_in_another_clause_does_not_negate():
    cues = _cues("Компания отказалась от посредников и заключила соглашение о сотрудничестве "
                 "с Китаем.")
    assert not cues[0].negated


def test_a_back_reference_to_a_negated_lead_borrows_no_parties():
    """"Соглашение было подписано" after "соглашение о покупке доли" is the purchase: the
    rules give it no parties of the lead; a lead that is not negated lends its parties."""
    from monitor import cooperation, nlp

    doc = nlp.process(
        "Китайский банк купит долю в американском банке",
        "Промышленный и коммерческий банк Китая подписал соглашение о покупке контрольной "
        "доли в американском отделении Bank of East Asia. Соглашение было подписано в "
        "пятницу в Чикаго, во время визита председателя КНР в США.", detect=False)
    all_cues, _ = cooperation.read_cues(doc)
    assert not any(c.is_coop for c in all_cues)
    doc = nlp.process("Россия и Индия договорились о сотрудничестве в космосе",
                      "Соглашение было подписано в Бангалоре.", detect=False)
    all_cues, _ = cooperation.read_cues(doc)
    assert {p["country"] for p in all_cues[-1].actors} >= {"IN", "RU"}


@pytest.mark.parametrize("text,cross_border", [
    # a party of one country investing or building in another: the cross-border cue
    ("Корейская компания построит в Приморье завод по переработке рыбы.", True),
    ("Турецкая компания инвестирует в текстильную фабрику в Иванове.", True),
    # investing at home, or a foreign buyer, is not cooperation between two countries
    ("Российская компания построит в Подмосковье завод по выпуску кирпича.", False),
    ("Китайская компания купила завод в Калуге.", False),
])
def test_investing_or_building_in_another_country(text, cross_border):
    cues = _cues(text)[0]
    assert cues.is_coop is cross_border


@pytest.mark.parametrize("title", [
    # an international organisation acts for its members
    "Страны ЕАЭС подписали соглашение о едином рынке газа",
    "Государства — члены ШОС утвердили план совместных учений",
    "Лидеры стран СНГ подписали декларацию о сотрудничестве в сфере культуры",
])
def test_members_of_an_international_organisation_are_parties(title):
    result = analyse(title, "")
    assert result.is_cooperation and result.scope == "international"
    assert any(p["kind"] == "intl_org" for p in result.parties)


def test_failed_talks_are_a_negative_cue():
    cues = _cues("Переговоры России и Японии по рыболовству завершились безрезультатно.")[0]
    assert cues.negative.get("ending") == 1


def test_an_agreement_not_yet_signed_is_not_signed():
    assert not _cues("Рыбаки не выйдут в море, пока не будет подписан протокол.")[0] \
        .sign_agreement
    assert _cues("Стороны подписали протокол о квотах.")[0].sign_agreement


@pytest.mark.parametrize("text", [
    # one country's year in another, or a cross year, is a bilateral programme
    "В Болгарии открылся Год России.",
    "Минкультуры России и Италии проведут перекрёстный год музеев.",
])
def test_a_country_year_is_a_cooperation_cue(text):
    cues = _cues(text)[0]
    assert cues.is_coop and (cues.country_year or cues.joint)


def test_a_year_of_the_calendar_is_not_a_country_year():
    assert not _cues("В этом году в Китае выросли продажи машин.")[0].country_year


@pytest.mark.parametrize("text", [
    # a joint word with one named party must not hide the other ways a sentence qualifies
    "В Софии открыли перекрёстный Год России в Болгарии.",
    "Совместный кабель проложат от Венесуэлы до Кубы.",
])
def test_any_one_way_of_qualifying_is_enough(text):
    assert _cues(text)[0].is_coop


@pytest.mark.parametrize("title,text,nothing_left", [
    ("", "", True),
    ("", "[👉 Топор Live. Подписаться](https://t.me/+HWFlcuXhzKdhYWY6)", True),  # a footer
    ("", "⚡️", True),
    ("Россия и Китай подписали соглашение о сотрудничестве", "", False),  # a title only
])
def test_odd_items_get_a_verdict(title, text, nothing_left):
    result = analyse(title, text)
    assert isinstance(result.is_cooperation, bool) and 0 <= result.cooperation_score <= 1
    if nothing_left:
        assert result.entities == [] and result.is_cooperation is False
    else:
        assert result.is_cooperation and result.countries == ["CN", "RU"]


def test_training_reads_what_the_detector_reads():
    """train.predict (from the features stored for training) and detector.detect (on the
    analysed document) give the same verdict, countries and evidence."""
    import json

    from conftest import DATA
    from monitor import train
    from monitor.coop_model import load_model

    rows = [json.loads(line) for line in
            (DATA / "tg-news" / "posts.jsonl").read_text("utf-8").splitlines()]
    model = load_model()
    for doc, row in zip(train.read_labelled([dict(r, cooperation="no") for r in rows],
                                            "test"), rows):
        ours = train.predict(model, doc)
        coop = analyse("", row["text"]).doc._.cooperation
        assert (ours.is_cooperation, ours.countries, ours.scope, ours.evidence) == \
            (coop.is_cooperation, coop.countries, coop.scope, coop.evidence)
        assert abs(ours.score - coop.score) < 1e-3


@pytest.mark.parametrize("text, paths", [
    # who gives what to whom: the giver is the subject, the receiver the indirect object
    ("Норвегия поставила Украине зенитные комплексы NASAMS.",
     {"_pp_c:nsubj^поставить^iobj:c", "_pm_поставить"}),
    # the side that strikes and the side struck meet at the strike
    ("Россия нанесла удар по Украине.", {"_pp_c:nsubj^нанести^obj/nmod:c", "_pm_нанести"}),
    # conjuncts meet where they act together, whatever kind of party each is
    ("Россия и Китай подписали соглашение о сотрудничестве.",
     {"_pp_c:conj^подписать^:c", "_pm_подписать"}),
    ("Газпром и Сбербанк заключили соглашение.", {"_pp_o:conj^заключить^:o", "_pm_заключить"}),
    # a place links too: where it happens («учения в Арктике»)
    ("Россия провела учения в Арктике.", {"_pp_c:nsubj^провести^obj/nmod:l", "_pm_провести"}),
    # three conjuncts: each two meet at the verb, never at the first one's name
    ("Россия, Китай и Индия подписали соглашение.",
     {"_pp_c:conj^подписать^:c", "_pm_подписать"}),
    # one party: nothing links it to another
    ("Россия провела учения.", set()),
])
def test_the_link_between_two_parties_is_a_feature(text, paths):
    from monitor.coop_features import document_features
    from monitor.cooperation import read_cues
    from monitor.nlp import process

    doc = process("", text, detect=False)
    grams = {g for sentence in document_features(doc, read_cues(doc)[0]) for g in sentence
             if g.startswith(("_pp_", "_pm_"))}
    assert grams == paths


def test_parties_too_far_apart_are_not_linked():
    """Over PATH_MAX edges a path says little (a clause inside a clause)."""
    from monitor.coop_features import DocWords, PATH_MAX, mention_kinds, pair_paths, \
        party_mentions
    from monitor.nlp import process

    doc = process("", "Россия поставила Украине зенитные комплексы, которые купила у "
                      "Норвегии компания из Германии.", detect=False)
    words = DocWords(doc)
    parties = party_mentions(doc, mention_kinds(doc), words.head)
    assert [letter for _, letter in parties] == ["c", "c", "c", "c"]
    paths = [g for g in pair_paths(0, len(doc), parties, words) if g.startswith("_pp_")]
    # of the 6 pairs only 2 are within PATH_MAX (3) edges: Россия → Украине, and Норвегии
    # → компания из Германии; Россия … Норвегии takes 4 (…комплексы, которые купила у…)
    assert PATH_MAX == 3
    assert paths == ["_pp_c:nsubj^поставить^iobj:c", "_pp_c:obl^купить^nsubj/nmod:c"]


@pytest.mark.parametrize("text,negative", [
    # ending in the imperfective ends it too
    ("Правительство Чада разрывает соглашение об оборонном сотрудничестве с Францией.",
     "ending"),
    # the guideline: permission to strike with weapons already supplied is not cooperation
    ("Франция и Великобритания разрешили Украине наносить удары ракетами SCALP.",
     "permission"),
])
def test_ending_and_permission_are_negative_cues(text, negative):
    assert _cues(text)[0].negative.get(negative)


@pytest.mark.parametrize("text, ended", [
    ("Москва прекратила консультации о совместной деятельности.", True),
    ("Финляндия заморозила совместные программы с Россией.", True),
    ("Россия и Китай завершили совместные учения.", False),  # done together: joint
])
def test_joint_work_ended_is_an_ending_not_a_joint_cue(text, ended):
    cues = _cues(text)[0]
    assert (cues.joint == 0, cues.negated, "ending" in cues.negative) == (ended,) * 3


def test_a_signed_agreement_has_no_ending_or_permission_cue():
    negative = _cues("Россия и Вьетнам подписали соглашение о сотрудничестве в энергетике.")[0] \
        .negative
    assert "ending" not in negative and "permission" not in negative


def test_the_other_side_of_a_war_is_marked_for_the_country_model():
    """"…чтобы сдержать российское наступление": RU is the other side, the US and Ukraine
    are not; the country features say so."""
    from monitor import cooperation, nlp
    from monitor.coop_features import country_features, country_mentions

    doc = nlp.process("", "США поставят Украине противопехотные мины, чтобы сдержать "
                          "российское наступление.", detect=False)
    all_cues, title_cues = cooperation.read_cues(doc)
    features = country_features(country_mentions(all_cues, len(title_cues)), 0)
    assert features["RU"]["opposed"] == 1.0
    assert features["US"]["opposed"] == 0.0 and features["UA"]["opposed"] == 0.0


def _roles(text: str) -> tuple[list[dict], list[dict]]:
    """The actors and places the rules find in a one-sentence text (no model needed)."""
    from monitor import cooperation, nlp

    doc = nlp.process("", text, detect=False)
    all_cues, _ = cooperation.read_cues(doc)
    return all_cues[0].actors, all_cues[0].places


def _codes(parties: list[dict]) -> set[str]:
    return {p["country"] for p in parties if p.get("country")}


@pytest.mark.parametrize("text,actors,places", [
    # a conjunct is where its first conjunct is
    ("Переговоры прошли в Москве и Пекине.", set(), {"CN", "RU"}),
    # people from a country act for it; goods from it do not
    ("Совместное исследование учёных из Габона, Франции и Великобритании показало пользу.",
     {"FR", "GA", "GB"}, set()),
    ("Военные из КНДР участвуют в учениях.", {"KP"}, set()),
    ("Словакия продолжила получать газ из России.", {"SK"}, {"RU"}),
    # over a country, or across its border: a place
    ("Системы ПВО Германии не будут защищать небо над Украиной.", {"DE"}, {"UA"}),
    ("Северокорейские войска воюют вместе с российскими военными на границе с Украиной.",
     {"KP", "RU"}, {"UA"}),
])
def test_actors_and_places(text, actors, places):
    found_actors, found_places = _roles(text)
    assert _codes(found_actors) == actors
    assert _codes(found_places) == places


def test_a_sea_named_after_a_country_is_no_country():
    actors, places = _roles("Вооруженные силы России и Китая провели совместное "
                            "патрулирование над Японским морем.")
    assert _codes(actors) | _codes(places) == {"CN", "RU"}
    actors, _ = _roles("Японские и российские учёные изучат Охотское море.")
    assert _codes(actors) == {"JP", "RU"}  # the adjective on people is still the country


@pytest.mark.parametrize("text,country,opposed", [
    ("Россия нанесла удар по Украине, а США поставят Украине мины.", "RU", True),
    ("Россия нанесла удар по Украине, а США поставят Украине мины.", "US", False),
    # the owner of frozen assets is not a party of the aid they pay for
    ("ЕС направит Украине доходы от замороженных активов России.", "RU", True),
    ("ЕС направит Украине доходы от замороженных активов России.", "UA", False),
    ("Россия направит Сербии доходы от экспорта.", "RU", False),
])
def test_the_other_side_is_marked(text, country, opposed):
    actors, places = _roles(text)
    marks = {p["opposed"] for p in actors + places if p.get("country") == country}
    assert marks == {opposed}


@pytest.mark.parametrize("text,speaker", [
    ("Казахстану направлено приглашение в БРИКС, заявил Путин.", "Путин"),
    ("Казахстану направлено приглашение в БРИКС, — Путин.", "Путин"),
    ("Россия нарастит поставки газа в Узбекистан, — Владимир Путин.", "Владимир Путин"),
    ("По данным Би-би-си, президент США Джо Байден одобрил поставку Украине мин.", "Би-би-си"),
])
def test_the_speaker_is_marked(text, speaker):
    actors, _ = _roles(text)
    assert {p["name"] for p in actors if p["speaker"]} == {speaker}


@pytest.mark.parametrize("text", [
    "Путин и Си Цзиньпин подписали соглашение, сообщили в Кремле.",
    "Россия — крупнейший торговый партнёр Китая.",  # a dash, but no attribution
])
def test_who_acts_is_no_speaker(text):
    actors, _ = _roles(text)
    assert actors and not any(p["speaker"] for p in actors)


def _features(text: str, evidence: int = 0) -> dict[str, dict[str, float]]:
    from monitor import cooperation, nlp
    from monitor.coop_features import country_features, country_mentions

    doc = nlp.process("", text, detect=False)
    all_cues, title_cues = cooperation.read_cues(doc)
    return country_features(country_mentions(all_cues, len(title_cues)), evidence)


def test_country_features_for_the_speaker_and_the_other_side():
    """Named in the evidence sentence only as the speaker or the other side:
    `evidence_side`; a plain party there is not."""
    features = _features("Казахстану направлено приглашение в БРИКС, заявил Путин.")
    assert features["RU"]["speaker"] == 1.0 and features["RU"]["evidence_side"] == 1.0
    assert features["KZ"]["speaker"] == 0.0 and features["KZ"]["evidence_side"] == 0.0
    features = _features("Вашингтон поставит Украине мины, чтобы сдержать российское "
                         "наступление.")
    assert features["RU"]["evidence_side"] == 1.0
    assert features["US"]["evidence_side"] == 0.0 and features["UA"]["evidence_side"] == 0.0


def test_a_place_is_scenery_when_two_countries_act():
    """The guideline: a place counts only when a single country acts."""
    features = _features("Путин и Пезешкиан обсудили обстановку в Сирии и развитие "
                         "сотрудничества России и Ирана.")
    assert features["SY"]["scenery"] == 1.0
    assert features["RU"]["scenery"] == 0.0 and features["IR"]["scenery"] == 0.0
    features = _features("Корейская компания построит завод в Приморье.")
    assert all(f["scenery"] == 0.0 for f in features.values())


def test_real_posts_name_the_cooperating_countries_only():
    """Real labelled posts (models/data/tg-news): the rules no longer read «над Японским
    морем» as Japan, and «учёных из Габона» makes Gabon an actor like France and Britain."""
    import json
    from pathlib import Path

    from monitor import cooperation, nlp
    from monitor.analysis import prepare

    path = Path(__file__).resolve().parent.parent / "models" / "data" / "tg-news" / "posts.jsonl"
    texts = {row["id"]: row["text"] for row in map(json.loads, path.read_text("utf-8")
                                                   .splitlines())}

    def countries(post_id: str) -> tuple[set[str], set[str]]:
        prepared = prepare("", texts[post_id])
        doc = nlp.process(prepared.title, prepared.text, detect=False)
        all_cues, _ = cooperation.read_cues(doc)
        return (set().union(*(_codes(c.actors) for c in all_cues)),
                set().union(*(_codes(c.places) for c in all_cues)))

    for joint_patrol in ("tg:1001101170442:271022", "tg:1001101170442:271182"):
        actors, places = countries(joint_patrol)
        assert {"CN", "RU"} <= actors and "JP" not in actors | places
    actors, _ = countries("tg:1001000724666:11255")
    assert {"FR", "GA", "GB"} <= actors
