"""Cooperation cues and the parties behind them, sentence by sentence (the rules).

Rules read each sentence for cooperation cues (сотрудничество, соглашение, договорились,
совместный...) and the parties that name them, and for negative cues that mean "not
cooperation" (matches between national teams, sanctions, conflicts, expulsions, acquisitions,
cooperation ended or refused, talks that failed, police operations). They decide nothing on
their own: their cues are features of the learned detector (`coop_features`, `detector`),
and their actors and places are the candidates for the item's parties and countries.

Parties are actors, not scenery: "Россия и Индия подписали соглашение в Пекине" is about
Russia and India; a place governed by "в/на/из" counts only when a single country acts.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from spacy.tokens import Doc, Span, Token

from .entities import party_spans
from .gazetteer import Match, matches
from .nlp import token_offsets

# --- cues (lemmas) -------------------------------------------------------------------------

COOP_NOUNS = {
    "сотрудничество", "соглашение", "меморандум", "партнёрство", "партнерство", "кооперация",
    "взаимодействие", "договорённость", "договоренность", "побратимство", "альянс",
    "консорциум", "соработничество", "сп", "коллаборация",
}
COOP_VERBS = {"сотрудничать", "договориться", "условиться", "кооперироваться",
              "объединиться", "скооперироваться", "посотрудничать", "согласовать",
              "договариваться"}
SIGN_VERBS = {"подписать", "подписывать", "заключить", "заключать", "парафировать",
              "ратифицировать", "продлить"}
JOINT_ADJ = {"совместный", "совместно", "двусторонний", "многосторонний",
             "межправительственный", "межрегиональный", "межведомственный",
             "межгосударственный", "взаимовыгодный", "перекрёстный", "перекрестный"}
# "Стороны договорились", "президенты двух стран": two parties without naming them.
PAIR_WORDS = {"сторона", "страна", "государство", "регион", "компания", "ведомство",
              "правительство", "министерство", "партнёр", "партнер", "город", "университет"}
PAIR_QUANTIFIERS = {"два", "оба", "обе", "двое"}
DEVELOP = {"развивать", "развить", "расширять", "расширить", "укреплять", "укрепить",
                 "наращивать", "нарастить", "углублять", "углубить", "налаживать", "наладить",
                 "обсудить", "обсуждать", "активизировать", "продолжить", "продолжать",
                 "возобновить", "запустить", "реализовать", "реализовывать", "создать",
                 "построить", "строить", "организовать", "провести",
                 # and their nouns: "укрепление связей", "развитие сотрудничества"
                 "развитие", "расширение", "укрепление", "наращивание", "углубление",
                 "налаживание", "активизация", "продолжение", "возобновление",
                 "реализация", "создание", "строительство"}
# "развивать сотрудничество", "укрепление связей": what a develop word must govern
DEVELOP_OBJECTS = COOP_NOUNS | {"связь", "проект", "отношение"}
# Cues of cooperation that need two parties in the sentence to count: treaties, loans,
# grants, investment, joining a project, building a plant.
FACILITY_NAMES = {"гэс", "аэс", "тэц", "тэс", "порт", "аэропорт", "месторождение", "мост",
                  "трасса", "магистраль", "космодром", "терминал", "станция", "завод"}
# A plant or a factory is a cue only when somebody builds or opens it.
FACILITIES = {"завод", "предприятие", "фабрика", "комбинат", "производство", "станция"}
BUILD_VERBS = {"построить", "строить", "возвести", "открыть", "открываться", "запустить",
               "создать", "локализовать", "разместить"}
PAIR_CUES = {"договор", "кредит", "заём", "займ", "грант", "инвестировать", "инвестиция",
             "присоединиться", "присоединение", "поставлять",
             "поставка", "нефтепровод", "газопровод", "трубопровод", "содействие", "помощь",
             "обмен", "стажировка", "побратим", "выделить", "предоставить", "передать",
             "профинансировать", "финансировать", "транш"}
# Money or a plant one country's party puts into another country ("Турецкая компания
# инвестирует в фабрику в Иванове", "Корейская компания построит в Приморье завод") is
# cross-border cooperation even though the second country is only the place.
CROSS_BORDER = {"кредит", "заём", "займ", "грант", "инвестировать", "инвестиция", "помощь",
                "профинансировать", "финансировать", "транш", "вложить"}

NEGATIVE = {
    "sport": {"матч", "сборная", "обыграть", "проиграть", "чемпионат", "турнир", "гол",
              "забить", "шайба", "тайм", "полуфинал", "четвертьфинал", "плей-офф",
              "соперник", "нападающий", "вратарь", "болельщик", "футболист", "хоккеист",
              "теннисист", "поединок", "ничья", "отборочный", "товарищеский", "шахматы",
              "шахматист", "шахматный", "чемпион", "чемпионка", "призовой", "олимпиада",
              "спортсмен", "тренер", "гонка", "пилот"},
    "sanctions": {"санкция", "эмбарго", "рестрикция", "ограничительный", "антироссийский",
                  "пошлина", "блокада", "запрет", "запретить"},
    "conflict": {"конфликт", "война", "удар", "обстрел", "атака", "нападение", "вторжение",
                 "столкновение", "боевой", "боевик", "теракт", "противостояние", "эскалация",
                 "агрессия", "провокация", "обвинить", "обвинение", "угроза", "угрожать",
                 "протест", "осудить", "спор", "напряжённость", "напряженность", "кризис",
                 "войско", "оккупация", "пленный",
                 # damage to a shared link is an incident, not a project
                 "повредить", "повреждение", "диверсия", "взрыв", "подрыв", "авария"},
    "expulsion": {"выслать", "высылка", "выдворить", "выдворение", "грата", "депортировать",
                  "депортация", "отозвать", "закрыть"},
    "acquisition": {"приобрести", "приобретение", "купить", "покупка", "поглощение",
                    "поглотить", "выкупить", "выкуп", "продать", "продажа", "пакет",
                    "слияние"},
    "ending": {"прекратить", "прекращение", "приостановить", "приостановка", "заморозить",
               "заморозка", "разорвать", "разрыв", "отказаться", "отказ", "денонсировать",
               "денонсация", "выйти", "выход", "аннулировать", "свернуть", "сворачивание",
               "остановить", "отменить", "отмена", "расторгнуть", "расторжение", "сорвать",
               "ухудшение", "ухудшиться", "заблокировать", "блокировать", "вето",
               "уйти", "покинуть",
               # the same in the imperfective ("Чад разрывает соглашение")
               "прекращать", "приостанавливать", "замораживать", "разрывать", "отказываться",
               "выходить", "сворачивать", "останавливать", "отменять",
               "расторгать", "срывать", "уходить", "покидать"},
    "crime": {"задержать", "задержание", "арестовать", "арест", "подозреваемый",
              "обвиняемый", "уголовный", "преступление", "кража", "похитить", "мошенничество",
              "мошенник", "убийство", "грабёж", "наркотик", "дтп", "полиция", "полицейский",
              "следователь", "злоумышленник", "хищение", "взятка", "коррупция", "суд",
              "приговор", "следствие"},
}
# Talks that failed: negative wherever they stand ("переговоры завершились безрезультатно")
FAILED = {"безрезультатно", "безрезультатный", "безуспешно", "безуспешный", "тупик",
          "провал", "провалиться", "провальный"}
# a purchase or a sanction negates a cue it governs or depends on ("соглашение о покупке")
EITHER_WAY = NEGATIVE["acquisition"] | NEGATIVE["sanctions"] | {"огонь", "перемирие"}
# A country governed by one of these is the other side, not a partner ("удар по Украине",
# "российское наступление", "санкции против России"): read by the country model.
OPPOSED = NEGATIVE["conflict"] | NEGATIVE["sanctions"] | {
    "наступление", "контрнаступление", "территория", "противник", "враг", "агрессор",
    "сдерживание", "сдержать", "сдерживать", "вмешательство", "давление",
    # the side that strikes: "Россия нанесла удар", "обстреляли Украину"
    "нанести", "наносить", "атаковать", "обстрелять", "обстреливать", "бомбить", "воевать"}
# "доходы от замороженных активов России": the owner of frozen assets is sanctioned, not a
# party of the aid they pay for.
ASSETS = {"актив", "резерв", "средство", "доход"}
FROZEN = {"заморозить", "замороженный", "замораживать", "арестовать", "арестованный",
          "обездвижить", "обездвиженный", "заблокировать", "заблокированный"}
# A country adjective naming a sea or a gulf is geography: "над Японским морем".
GEO_NOUNS = {"море", "залив", "пролив", "океан", "полуостров", "архипелаг", "нагорье",
             "низменность", "равнина", "пустыня"}
# "на границе с Украиной": a country as the other side of a border is a place.
BORDERS = {"граница", "приграничье", "рубеж"}
# People from a country act for it ("учёные из Габона", "военные из КНДР"); goods and
# flights from it do not ("газ из России").
PEOPLE = {"военный", "военнослужащий", "солдат", "учёный", "ученый", "специалист",
          "эксперт", "делегация", "инвестор", "представитель", "дипломат", "инженер",
          "врач", "студент", "наёмник", "наемник", "доброволец", "бизнесмен", "предприниматель"}
# Who says it is not who does it: "…, заявил Путин", "— Путин.", "по данным Би-би-си".
SPEECH = {"заявить", "заявлять", "сообщить", "сообщать", "сказать", "говорить", "написать",
          "писать", "отметить", "отмечать", "подчеркнуть", "подчёркивать", "подчеркивать",
          "рассказать", "рассказывать", "передать", "передавать", "добавить", "уточнить",
          "пояснить", "указать", "указывать", "признать", "объявить", "считать", "полагать",
          "утверждать", "констатировать", "процитировать"}
SOURCES = {"данные", "слово", "ссылка", "информация", "оценка", "мнение", "сведение"}
# Permission to strike with weapons already supplied is not cooperation (guideline):
# "разрешили Украине наносить удары", "позволили бить вглубь".
PERMIT = {"разрешить", "позволить", "разрешение", "разрешать", "позволять"}
STRIKE = {"удар", "наносить", "нанести", "бить", "ударить", "применять", "применение",
          "использовать", "использование", "атаковать", "поражать"}
FIGHT = {"борьба", "бороться", "противодействие", "противодействовать", "профилактика",
         "предотвращение", "предотвратить", "пресечение", "искоренение"}
# A link built or opened between two countries ("кабель от Венесуэлы до Кубы проложат",
# "паромная линия свяжет Владивосток и Тонхэ") is a joint project even when the countries
# are only its ends; a link merely mentioned (prices, repairs) is not.
LINKS = {"кабель", "трубопровод", "нефтепровод", "газопровод", "лэп", "электропередача",
         "мост", "паром", "паромный", "железнодорожный"}
LINK_ACTS = BUILD_VERBS | {"соединить", "соединять", "связать", "связывать", "проложить",
                           "прокладка", "укладка", "строительство", "открытие", "запуск",
                           "открыться", "пустить", "заработать"}
NOT = {"не", "ни"}
LOCATIVE_PREPS = {"в", "во", "на", "из", "изо", "под", "близ", "около", "возле", "до",
                  "через", "по", "над", "вблизи", "вдоль"}

# --- sentences and parties -----------------------------------------------------------------

@dataclass
class SentenceCues:
    span: Span
    coop: int = 0  # strong cooperation cues
    sign_agreement: bool = False
    joint: int = 0
    develop_coop: bool = False
    coop_verb: bool = False
    negated: bool = False
    negative: dict[str, int] = field(default_factory=dict)
    actors: list[dict] = field(default_factory=list)
    places: list[dict] = field(default_factory=list)

    pair: int = 0  # PAIR_CUES present
    cross_border: bool = False  # CROSS_BORDER or a plant built: a party invests abroad
    link: bool = False  # a link (cable, pipeline, bridge, ferry) built or opened
    country_year: bool = False  # "Год России в Болгарии": one country's year in another
    implied_pair: bool = False  # "стороны", "двух стран"
    joint_subjects: bool = False  # "X и Y <verb>": two parties acting together

    @property
    def named_parties(self) -> int:
        """Distinct actors the sentence names (people only when they act for a state)."""
        return len({p["name"] for p in self.actors if p["kind"] != "person" or p["country"]})

    @property
    def parties(self) -> int:
        """Distinct non-person actors, or two when the sentence implies a pair: "стороны",
        "двух стран", or an international organisation, which acts for its members
        ("Страны ЕАЭС подписали соглашение")."""
        implied = self.implied_pair or any(p["kind"] == "intl_org" for p in self.actors)
        return max(self.named_parties, 2 if implied else 0)

    @property
    def is_coop(self) -> bool:
        """Does the sentence report cooperation? Any one of the ways below is enough."""
        if self.negated:
            return False
        if self.coop > 0 and (self.parties >= 2 or (self.parties >= 1 and self.coop_verb)):
            return True  # "Россия и Япония будут сотрудничать", "ШОС договорилась"
        if (self.sign_agreement or self.joint > 0 or self.joint_subjects or self.develop_coop) \
                and self.parties >= 2:
            return True  # "укрепление связей между странами" needs two sides
        if (self.link or self.country_year) and \
                len(self.countries | self.place_countries) >= 2:
            return True  # the countries may be only the ends or the host
        # "кредит", "поставки" need two sides: named, or "между двумя странами"
        if self.pair > 0 and (len(self.countries | self.orgs) >= 2 or self.implied_pair):
            return True
        return self.cross_border and bool(self.countries) and \
            bool(self.place_countries - self.countries)

    @property
    def place_countries(self) -> set[str]:
        return {p["country"] for p in self.places if p.get("country")}

    @property
    def orgs(self) -> set[str]:
        return {p["name"] for p in self.actors if p["kind"] in ("org", "intl_org")}

    @property
    def countries(self) -> set[str]:
        """Countries named or implied by the actors (not guessed from a Cyrillic name)."""
        return {p["country"] for p in self.actors
                if p.get("country") and not p["country"].endswith("?")}


def _opposed(token: Token) -> bool:
    """Is this mention the other side: governed by a conflict word, or "против" it, or the
    owner of frozen assets?"""
    head = token.head
    governed = head.i != token.i and head.lemma_ in OPPOSED
    if governed and head.lemma_ == "территория":  # "удары по территории России", not
        governed = head.head.lemma_ in OPPOSED   # "через территорию Казахстана"
    frozen = head.i != token.i and head.lemma_ in ASSETS and any(
        c.lemma_ in FROZEN or c.lower_.startswith("заморож") for c in head.children)
    return governed or frozen or any(child.dep_ == "case" and child.lower_ == "против"
                                     for child in token.children)


def _speaker(token: Token) -> bool:
    """Is this mention who says the sentence rather than who acts in it: the subject of a
    speech verb ("…, заявил Путин"), an attribution after a dash ("…, — Путин."), or a
    source ("по данным Би-би-си", "со ссылкой на Reuters")?"""
    head = token.head
    if token.dep_ in ("nsubj", "nsubj:pass") and head.lemma_ in SPEECH:
        return True
    if head.i != token.i and head.lemma_ in SOURCES and any(
            c.dep_ == "case" for c in head.children):
        return True
    # "…, — Путин.": a name alone after a dash at the end of the sentence ("Россия —
    # крупнейший партнёр Китая" is no attribution)
    sent, doc = token.sent, token.doc
    dashes = [t.i for t in doc[max(sent.start, token.i - 4):token.i] if t.text in "—–"]
    if not dashes:
        return False
    tail = [t for t in doc[dashes[-1] + 1:sent.end] if not t.is_punct]
    return dashes[-1] > sent.start and all(t.pos_ == "PROPN" for t in tail)


def _is_location(token: Token) -> bool:
    """Is this mention scenery ("в Токио", "во Владивостоке", "на границе с Украиной")
    rather than an actor? A conjunct is where its first conjunct is ("в Москве и Пекине");
    people from a country are its actors ("учёные из Габона")."""
    node = token
    if token.pos_ == "ADJ" and token.head.i != token.i:
        node = token.head
    while node.dep_ == "conj" and node.head.i != node.i:
        node = node.head
    if node.head.i != node.i and node.head.lemma_ in BORDERS:
        return True
    for child in node.children:
        if child.dep_ == "case" and child.lower_ in LOCATIVE_PREPS:
            head = node.head
            from_people = child.lower_ in ("из", "изо") and head.i != node.i and (
                head.lemma_ in PEOPLE or "Anim" in head.morph.get("Animacy"))
            return not from_people
    return False


def _geography(span: Span) -> bool:
    """A country adjective naming a sea, a gulf, a peninsula ("Японское море")."""
    root = span.root
    return root.dep_ == "amod" and root.head.lemma_ in GEO_NOUNS


_CYRILLIC = re.compile("[А-Яа-яЁё]")


# "Международная федерация футбола", "Всемирный банк": no country is guessed for these
# (some are Russian, "Международный институт политической экспертизы", most are not)
_INTERNATIONAL = re.compile("(Международн|Всемирн|Мирово)", re.IGNORECASE)


def _org_country(name: str, country: str | None) -> str | None:
    """An organisation with a Cyrillic name and no known country is, in Russian-language
    news, almost always Russian (Минпросвещения, «Камаз», Томский политех)."""
    if country:
        return country
    if _INTERNATIONAL.match(name or ""):
        return None
    return "RU?" if _CYRILLIC.search(name or "") else None  # "?" = guessed


def _party(span: Span, match: Match | None) -> dict | None:
    """The party a mention stands for: an entity span, or a gazetteer match (`match`)."""
    is_entity = match is None
    if is_entity:
        kind, country, canonical = span._.kind, span._.country, span._.canonical
    else:
        kind, country, canonical = match.kind, match.country, match.canonical
    if is_entity and span.label_ == "PER":  # with the country an official acts for
        return {"name": span._.normal or span.text, "kind": "person", "country": country}
    if is_entity and span.root.lemma_ in FACILITY_NAMES:
        return None  # "Камбаратинская ГЭС", "порт Гвадар": objects, not actors
    if is_entity and (span.label_ == "ORG" and kind != "country"):
        if kind == "intl_org":
            return {"name": canonical, "kind": "intl_org", "country": None}
        name = span._.normal or span.text
        return {"name": name, "kind": "org", "country": _org_country(name, country)}
    if kind in ("country", "country_adj", "demonym"):
        if kind == "country_adj" and _geography(span):
            return None
        return {"name": canonical, "kind": "country", "country": country}
    if kind == "capital":
        return {"name": canonical, "kind": "city", "country": country, "capital": True}
    if kind in ("region", "region_adj"):
        return {"name": canonical, "kind": "region", "country": country}
    if kind == "city":
        return {"name": canonical, "kind": "city", "country": country}
    if kind == "intl_org":
        return {"name": canonical, "kind": "intl_org", "country": None}
    return None


def _mentions(doc: Doc, ents: list[Span], found: list[Match]) -> list[tuple[Span, Match | None]]:
    """(span, gazetteer match or None for an entity) among a sentence's entities and
    gazetteer matches; an entity wins over a match it overlaps, unless the entity is
    unlinked and the match is not."""
    taken = {i for e in ents if e._.kind for i in range(e.start, e.end)}
    extra = [m for m in found if not any(i in taken for i in range(m.start, m.end))]
    covered = {i for m in extra for i in range(m.start, m.end)}
    ents = [e for e in ents if e._.kind or not any(i in covered for i in range(e.start, e.end))]
    return [(e, None) for e in ents] + [(doc[m.start:m.end], m) for m in extra]


def _fought(token: Token) -> bool:
    """A negative word that is what the parties fight ("борьба с коррупцией",
    "противодействие терроризму") is the goal of their cooperation, not a conflict."""
    return any(node.lemma_ in FIGHT for node in itertools.islice(token.ancestors, 3))


def _ended(token: Token) -> bool:
    """Does an ending verb govern `token` in its clause ("приостановили сотрудничество",
    "прекратила консультации о совместной деятельности")?"""
    return any(_ends(t, token) for t in _governors(token))


def _ends(governor: Token, cue: Token) -> bool:
    """Does `governor` end the cooperation `cue` under it? Leaving needs "из": "вышли из
    соглашения" ends it, "газопровод выйдет на полную мощность" does not."""
    if governor.lemma_ not in NEGATIVE["ending"]:
        return False
    if governor.lemma_ in ("выйти", "выход", "уйти", "выходить", "уходить"):
        return any(c.lower_ in ("из", "изо") for c in cue.children)
    return True


# Relations by which a verb heads a clause of its own: an ending verb beyond one does not end
# a cue inside it ("отказалась от посредников и заключила соглашение": "заключила" is a conj).
CLAUSE_RELATIONS = {"conj", "parataxis", "advcl", "acl", "acl:relcl", "ccomp", "csubj",
                    "appos", "list"}


def _governors(token: Token, depth: int = 4) -> list[Token]:
    """The cue's ancestors up to the verb of its clause and that clause's own chain:
    "отказалась возобновить переговоры по договору" reaches "отказалась" from "договору";
    "отказалась от посредников и заключила соглашение" stops at "заключила"."""
    result, node = [], token
    while len(result) < depth and node.head.i != node.i:
        if node.dep_ in CLAUSE_RELATIONS and node.pos_ in ("VERB", "AUX"):
            break
        node = node.head
        result.append(node)
    return result


# Every lemma the per-word checks of `sentence_cues` look for, and the negative cues by lemma.
_NAME_CUES = COOP_NOUNS | JOINT_ADJ | PAIR_CUES | FACILITIES
_NEGATIVE_OF: dict[str, list[str]] = {}
for _name, _words in NEGATIVE.items():
    if _name != "ending":
        for _word in _words:
            _NEGATIVE_OF.setdefault(_word, []).append(_name)
_CUE_LEMMAS = (PAIR_WORDS | COOP_NOUNS | COOP_VERBS | JOINT_ADJ | DEVELOP | LINKS | FACILITIES
               | CROSS_BORDER | PAIR_CUES | FAILED | PERMIT | set(_NEGATIVE_OF)
               | {"объединить", "объединять", "год", "помощь"})


def sentence_cues(doc: Doc, sent: Span, doc_ents: list[Span]) -> SentenceCues:
    """What one sentence says about cooperation (`doc_ents`: `party_spans(doc)`, built
    once)."""
    cues = SentenceCues(span=sent)
    coop_tokens = []
    sent_ents = [e for e in doc_ents if e.start >= sent.start and e.end <= sent.end]
    sent_matches = [m for m in matches(doc) if m.start >= sent.start and m.end <= sent.end]
    in_names = {i for span in [*sent_ents, *sent_matches] for i in range(span.start, span.end)}
    # "российско-японский" is joint; "северо-кавказский", "научно-технический" are not
    compounds, country_words = {}, set()
    for m in sent_matches:
        if m.kind in ("country_adj", "region_adj"):
            compounds.setdefault(m.start, set()).add(m.canonical)
        if m.kind in ("country", "country_adj"):
            country_words.update(range(m.start, m.end))
    for token in sent:
        lemma = token.lemma_
        if lemma not in _CUE_LEMMAS and token.i not in compounds:
            continue  # most words are no cue of any kind
        if token.i in in_names and lemma in _NAME_CUES:
            continue  # "Шанхайская организация сотрудничества" names a party, not an act
        if lemma in PAIR_WORDS and ("Plur" in token.morph.get("Number") or any(
                c.lemma_ in PAIR_QUANTIFIERS for c in token.children)):
            if lemma == "сторона" or any(c.lemma_ in PAIR_QUANTIFIERS | {"между"}
                                         for c in token.children):
                cues.implied_pair = True
        if lemma in COOP_NOUNS or lemma in COOP_VERBS or (
                lemma in ("объединить", "объединять")
                and any(c.lemma_ == "усилие" for c in token.children)):
            cues.coop += 1
            coop_tokens.append(token)
            if lemma not in COOP_NOUNS:
                cues.coop_verb = True
        if lemma in JOINT_ADJ or len(compounds.get(token.i, ())) >= 2:
            if _ended(token.head):
                # joint work ended: "прекратила консультации о совместной деятельности"
                cues.negated = True
                cues.negative["ending"] = cues.negative.get("ending", 0) + 1
            else:
                cues.joint += 1
        if lemma in DEVELOP and any(c.lemma_ in DEVELOP_OBJECTS for c in token.children):
            cues.develop_coop = True  # the object depends on the verb or noun
        if lemma == "год" and any(  # "Год Японии в России", "Год российской культуры"
                c.dep_ == "nmod" and "Gen" in c.morph.get("Case")
                and any(t.i in country_words for t in c.subtree) for c in token.children):
            cues.country_year = True
        if lemma in LINKS:
            coop_tokens.append(token)  # "прокачку по нефтепроводу остановили" negates it
        built = lemma in FACILITIES and token.head.lemma_ in BUILD_VERBS
        if lemma == "помощь" and any(c.lower_ in ("с", "со") for c in token.children):
            continue  # "с помощью парома" is a means, not aid
        if lemma in CROSS_BORDER or built:
            cues.cross_border = True
        if lemma in PAIR_CUES or built:
            cues.pair += 1
            coop_tokens.append(token)  # negation applies to these cues too
        for name in _NEGATIVE_OF.get(lemma, ()):
            if not _fought(token):
                cues.negative[name] = cues.negative.get(name, 0) + 1
        if lemma in FAILED:
            cues.negative["ending"] = cues.negative.get("ending", 0) + 1
        if lemma in PERMIT and any(t.lemma_ in STRIKE for t in token.subtree if t is not token):
            cues.negative["permission"] = cues.negative.get("permission", 0) + 1
    # "МТС и Nokia создадут сеть": two parties as coordinated subjects act together.
    mentions = _mentions(doc, sent_ents, sent_matches)
    party_tokens = {}
    for mention, match in mentions:
        party = _party(mention, match)
        if party and (party["kind"] != "person" or party["country"]):
            party_tokens[mention.root.i] = party["name"]
    for token in sent:
        if token.dep_ == "nsubj" and token.i in party_tokens and token.head.pos_ == "VERB":
            partners = {party_tokens[c.i] for c in token.children
                        if c.dep_ == "conj" and c.i in party_tokens}
            if partners - {party_tokens[token.i]}:
                cues.joint_subjects = True
    lemma_set = {t.lemma_ for t in sent}
    cues.link = bool(lemma_set & LINKS) and bool(lemma_set & LINK_ACTS)
    # "пока не будет подписан протокол" signs nothing
    signed = any(t.lemma_ in SIGN_VERBS and not any(c.lower_ in NOT for c in t.children)
                 for t in sent)
    cues.sign_agreement = signed and bool(
        lemma_set & {"соглашение", "меморандум", "договор", "контракт", "протокол"})
    # Negation or ending attached to a cooperation cue: "не будут сотрудничать"; an ending
    # verb governing the cue ("приостановили сотрудничество", "заморозила участие в
    # программе сотрудничества"); a purchase or a sanction attached either way ("соглашение
    # о покупке"). An ending word *under* the cue is fine: "соглашение об отмене виз".
    for token in coop_tokens:
        neighbours = [token.head, token.head.head, *token.children, *token.head.children]
        if any(t.lower_ in NOT for t in [*token.children, *token.head.children]) \
                or _ended(token) \
                or any(t.lemma_ in EITHER_WAY for t in neighbours):
            cues.negated = True
            cues.negative["ending"] = cues.negative.get("ending", 0) + 1
    for mention, match in mentions:
        party = _party(mention, match)
        if party is None:
            continue
        # how the mention names its party and its role in the sentence (country features)
        case = mention.root.morph.get("Case")
        party["via"] = match.kind if match else ("person" if mention.label_ == "PER" else "org"
                                                 if mention.label_ == "ORG" else "name")
        party["dep"], party["case"] = mention.root.dep_, case[0] if case else ""
        party["opposed"] = _opposed(mention.root)
        party["speaker"] = _speaker(mention.root)
        if party["kind"] in ("city", "region", "country") and _is_location(mention.root):
            cues.places.append(party)
        elif party["kind"] == "city" and not party.get("capital"):
            cues.places.append(party)  # a city acts only in the nominative, as a subject
            if mention.root.dep_ in ("nsubj", "conj") and \
                    "Nom" in mention.root.morph.get("Case"):
                cues.actors.append(party)
        else:
            cues.actors.append(party)
    return cues


# --- the document --------------------------------------------------------------------------

def sentence_text(doc: Doc, sent: Span) -> str:
    """The sentence as it stands in the (cleaned) title and text."""
    start, stop = token_offsets(doc, sent.start, sent.end)
    return doc.user_data["text"][start:stop].strip()


def unique_parties(parties: list[dict]) -> list[dict]:
    """Parties once each, with only the keys the output shows."""
    seen, result = set(), []
    for party in parties:
        key = (party["name"], party["kind"])
        if key not in seen:
            seen.add(key)
            result.append({k: party.get(k) for k in ("name", "kind", "country")})
    return result


def _org_countries(doc: Doc) -> dict[str, str]:
    """Organisation name -> country, from a country adjective just before it."""
    adjectives = {m.start: m.country for m in matches(doc) if m.kind == "country_adj"}
    result = {}
    for ent in party_spans(doc):
        if ent.label_ != "ORG":
            continue
        for i in range(max(0, ent.start - 3), ent.start):
            if i in adjectives and not any(t.is_punct and t.text not in "«»\"" for t in
                                           doc[i:ent.start]):
                result[ent._.normal or ent.text] = adjectives[i]
    return result


def read_cues(doc: Doc) -> tuple[list[SentenceCues], list[SentenceCues]]:
    """The cues of every sentence (and of the title's sentences apart), with the parties a
    cue refers back to and the countries organisations take from adjectives resolved."""
    text_start = doc.user_data["text_start"]
    starts = doc.user_data["char_starts"]
    all_cues, title_cues = [], []
    doc_ents = party_spans(doc)  # ORG+country as one party ("МИД России"), built once
    for sent in doc.sents:
        cues = sentence_cues(doc, sent, doc_ents)
        all_cues.append(cues)
        if starts[sent.start] < text_start:
            title_cues.append(cues)
    # "китайская Haier", "японская корпорация Mitsui": an adjective names an organisation's
    # country once; use it wherever the organisation acts in the article.
    org_country = _org_countries(doc)
    for cues in all_cues:
        for party in cues.actors:
            if party["kind"] == "org" and party["name"] in org_country and \
                    (not party.get("country") or party["country"].endswith("?")):
                party["country"] = org_country[party["name"]]
    # A cue without parties of its own refers back to the lead: "Стороны подписали...",
    # "Предметом обсуждения стали вопросы сотрудничества".
    lead = (title_cues or all_cues[:1]) + [c for c in all_cues if c not in title_cues][:1]
    lead_actors = [(c, p) for c in lead for p in c.actors] + \
        [(c, p) for c in lead for p in c.places if p["kind"] == "country"]
    # ...unless every cue of the lead is negated: then "Соглашение было подписано в Чикаго"
    # refers to the purchase ("соглашение о покупке доли") the lead reported.
    lead_cues = [c for c in lead if c.coop or c.sign_agreement or c.pair]
    if lead_cues and all(c.negated for c in lead_cues):
        lead_actors = []
    for cues in all_cues:
        if (cues.coop or cues.sign_agreement) and cues.named_parties < 2:
            known = {p["name"] for p in cues.actors}
            cues.actors = cues.actors + [p for c, p in lead_actors
                                         if c is not cues and p["name"] not in known]
    return all_cues, title_cues
