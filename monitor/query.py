"""The search query language, parsed into an SQLite FTS5 MATCH expression over lemmas.

The full-text index holds search lemmas (`monitor.lemmas`), so every word of a query is
lemmatised the same way and matches in any inflection: «водоочистку» finds «водоочистки».

Syntax (`monitor search --help` shows QUERY_HELP; QUERY_HELP_RU and QUERY_NOTES_RU are
the same in Russian, for the web UI's help page):

- `word word` -- every word must match (AND is implicit; the word `AND` is ignored).
- `"a phrase"` or `«a phrase»` -- the words in this order, inflected freely.
- `a OR b` (also `ИЛИ`, `или`, `|`) -- either. OR binds tighter than the implicit AND,
  as in web search engines: `газ нефть OR уголь` is `газ AND (нефть OR уголь)`;
  parentheses group anything: `(газ нефть) OR уголь`.
- `-word`, `-"a phrase"`, `-(a OR b)` and `NOT word` (also `НЕ`) -- must not match.
- `мос*` -- any word beginning so (at least two letters, not lemmatised).
- Apostrophes and hyphens inside a word belong to it («Кот-д'Ивуар», «Санкт-Петербург»);
  no-break and other Unicode spaces are spaces.
- Stop words («и», «в», «на», «о»…) are ignored unless inside a quoted phrase.
- A country or international organisation is found by any of its names or an ISO code:
  «Беларусь», «Белоруссия», «Республика Беларусь» and `BY` find the same items, and so do
  «КНР», «Китай» and `CN`; a country finds its adjective and demonym too («Япония» finds
  «японских компаний», «японцы»).
- `NEAR` is not supported: the word is ignored and the words around it must all match.
- A query with nothing left to look for (only stop words, emoji or punctuation, or only
  exclusions) is an error, not "everything".
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from .lemmas import lemmatize

QUERY_HELP = """\
Query language (the same in the CLI and the web UI):
  words            all must match, in any inflection (водоочистку = водоочистка)
  "a phrase"       the words in this order (also «…»); stop words count inside quotes
  a OR b           either (also ИЛИ, или, |); OR binds tighter than AND:
                   газ нефть OR уголь = газ (нефть OR уголь); (газ нефть) OR уголь
  -word, NOT word  must not match (also -"phrase", -(a OR b), НЕ)
  мос*             words beginning with "мос" (two letters at least)
  Кот-д'Ивуар      apostrophes and hyphens inside a word belong to it
  Беларусь, BY     a country (or ООН, ШОС...) by any of its names or ISO code
Stop words (и, в, на, о...) are ignored unless quoted; AND is implicit (the word is
ignored); NEAR is not supported (ignored). A query left with nothing to look for (only
stop words, emoji or exclusions) is an error."""

# The same for the web UI's help page (/help), in Russian: (what, examples to write, what
# they find), so the syntax is described here only.
QUERY_HELP_RU = [
    ("Слова", ["водоочистка Япония"],
     "новости, где есть все слова, в любом порядке и в любой форме: «водоочистку» найдёт и "
     "«водоочистки» (AND писать не нужно)."),
    ("«Фразы» в кавычках", ['"японские компании"', "«японские компании»"],
     "слова подряд, в этом порядке и в любой форме."),
    ("OR — любое из", ["водоочистка OR канализация"],
     "хотя бы одно из слов; вместо OR можно писать ИЛИ, «или» или |."),
    ("Скобки", ["(водоочистка OR канализация) Япония", "газ нефть OR уголь"],
     "скобки группируют что угодно. Без скобок OR связывает соседние слова сильнее, чем "
     "пробел: «газ нефть OR уголь» — это газ и (нефть или уголь)."),
    ("-слово — исключить", ["Китай -санкции", "NOT санкции", '-"фраза"', "-(a OR b)"],
     "новости без этих слов (в любой форме); NOT и НЕ — то же, что минус. Хотя бы одно "
     "слово для поиска, кроме исключённых, нужно."),
    ("Начало слова*", ["мос*"],
     "слова, начинающиеся с «мос»: Москва, московский, мост… Звёздочка ставится в конце "
     "слова, перед ней — не меньше двух букв."),
    ("Апострофы и дефисы внутри слов", ["Кот-д'Ивуар", "российско-японский", "О'Хара"],
     "слово с дефисом или апострофом ищется целиком; апостроф внутри слова — не кавычка."),
    ("Служебные слова", ["сотрудничество в энергетике", '"в Японии"'],
     "предлоги, союзы и частицы («и», «в», «по», «с»…) сами по себе не ищутся: первый "
     "запрос — то же, что «сотрудничество энергетике». В кавычках они учитываются."),
    ("Страны и организации — любым названием",
     ["Беларусь", "Белоруссия", "Республика Беларусь", "BY", "Китай", "КНР", "CN"],
     "страна (или международная организация: ООН, ШОС…) находится по любому из своих "
     "названий и по коду ISO — это одни и те же новости; страна находит и своё "
     "прилагательное и жителей: «Япония» — и «японских компаний», и «японцы»."),
    ("Пробелы", [], "неразрывные и двойные пробелы — как обычные."),
]
QUERY_NOTES_RU = ("NEAR не поддерживается (слово пропускается), AND не нужен (пропускается "
                  "тоже). Запрос, в котором не осталось слов для поиска (только служебные "
                  "слова, эмодзи или исключения), — ошибка, а не «всё подряд»; пустой запрос "
                  "показывает все новости.")

# Function words that match nearly every item; ignored unless quoted.
STOP_WORDS = frozenset("""
а без бы в во вот для до же за и из или к ко ли на над не ни но о об обо около от по под
при про с со так то у через что чтобы это как а также ещё уже
""".split())

OR_WORDS = {"OR", "ИЛИ", "или", "or", "|"}
AND_WORDS = {"AND", "И", "&"}
NOT_WORDS = {"NOT", "НЕ"}
IGNORED_WORDS = {"NEAR"}
QUOTES = str.maketrans({"«": '"', "»": '"', "„": '"', "“": '"', "”": '"', "″": '"'})
APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "‘": "'", "`": "'", "´": "'"})
# a term: a quoted phrase, a parenthesis, or a run of anything else but spaces and quotes
TOKEN = re.compile(r'"(?P<phrase>[^"]*)"|(?P<paren>[()])|(?P<word>[^\s"()]+)')
LETTERS = re.compile(r"[0-9A-Za-zА-Яа-яЁё]")


class QueryError(ValueError):
    """The search query cannot be understood; str() says why in English, russian() in
    Russian (for the web UI)."""

    def __init__(self, message: str, russian: str):
        super().__init__(message)
        self.russian_text = russian

    def russian(self) -> str:
        return self.russian_text


@dataclass
class ParsedQuery:
    """A query ready for SQLite: the MATCH expression, the lemmas to highlight and the
    words that were ignored (stop words, NEAR, AND...), for the UI to say so."""

    expression: str | None
    highlight: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def _quote(lemmas: str) -> str:
    return '"' + lemmas.replace('"', '""') + '"'


def clean(text: str) -> str:
    """Unicode spaces become spaces, typographic quotes and apostrophes plain ones,
    invisible format characters (soft hyphen, zero-width joiner...) go."""
    out = []
    for char in unicodedata.normalize("NFC", text):
        category = unicodedata.category(char)
        if category == "Zs" or char in "\t\n\r\v\f":
            out.append(" ")
        elif category == "Cf":
            continue
        else:
            out.append(char)
    return "".join(out).translate(QUOTES).translate(APOSTROPHES)


NAMES_FILE = "search_names.json"


def compute_names() -> dict:
    """What `names()` reads, from the gazetteer: every country's names (as written and as
    lemmas) and its adjectives and demonyms (as lemmas) by ISO code, and each international
    organisation's names as lemmas."""
    from .gazetteer import entries

    countries: dict[str, dict[str, set]] = {}
    orgs: dict[str, set] = {}
    for name, bucket in entries().items():
        lemmas = lemmatize(name)
        for entry in bucket:
            if entry.kind in ("country", "country_adj", "demonym") and entry.country:
                found = countries.setdefault(entry.country, {"names": set(), "lemmas": set(),
                                                             "adjectives": set()})
                if entry.kind != "country":  # «японский», «японец»: found, never looked up
                    if lemmas:
                        found["adjectives"].add(lemmas)
                    continue
                found["names"].add(name)
                if lemmas:
                    found["lemmas"].add(lemmas)
            elif entry.kind == "intl_org" and lemmas:
                orgs.setdefault(entry.canonical, set()).add(lemmas)
    return {"countries": {code: {k: sorted(v) for k, v in sorted(found.items())}
                          for code, found in sorted(countries.items())},
            "orgs": {name: sorted(v) for name, v in sorted(orgs.items())}}


def write_names() -> None:
    """Regenerate `data/search_names.json` after editing the gazetteer's data:
    `python -c "from monitor import query; query.write_names()"`."""
    from importlib import resources

    path = resources.files("monitor") / "data" / NAMES_FILE
    with open(str(path), "w", encoding="utf-8") as out:
        json.dump(compute_names(), out, ensure_ascii=False, indent=0, sort_keys=True)
        out.write("\n")


@lru_cache(maxsize=1)
def names() -> dict:
    """The gazetteer's country and organisation names, precomputed (loading the gazetteer
    costs a second of every CLI search); a test keeps the file equal to `compute_names()`."""
    from importlib import resources

    return json.loads((resources.files("monitor") / "data" / NAMES_FILE)
                      .read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _names() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(lemmas of a name -> lemmas of every name of the same party, ISO code -> the same),
    for countries and international organisations."""
    def ordered(group) -> tuple[str, ...]:
        return tuple(sorted(group, key=lambda n: (len(n), n)))

    data = names()
    # a country's name finds its adjective and demonym too («Япония»: «японских компаний»),
    # which look up nothing themselves
    by_code = {code: ordered(c["lemmas"]) + ordered(set(c["adjectives"]) - set(c["lemmas"]))
               for code, c in data["countries"].items()}
    by_name: dict[str, tuple[str, ...]] = {}
    for code, country in data["countries"].items():
        for lemmas in country["lemmas"]:
            by_name.setdefault(lemmas, by_code[code])  # a name of two parties keeps the first
    for group in map(ordered, data["orgs"].values()):
        for lemmas in group:
            by_name.setdefault(lemmas, group)
    return by_name, by_code


def name_variants(lemmas: str, raw: str = "") -> tuple[str, ...] | None:
    """Every name (as lemmas) of the country or organisation `lemmas` names, or that the
    upper-case ISO code `raw` stands for; None when it names none."""
    by_name, by_code = _names()
    if re.fullmatch(r"[A-Z]{2}", raw) and raw in by_code:
        return by_code[raw]
    return by_name.get(lemmas)


@dataclass
class _Node:
    kind: str  # term | and | or | not
    expr: str = ""
    children: list["_Node"] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str):
        self.tokens = self._tokens(clean(text))
        self.pos = 0
        self.highlight: list[str] = []
        self.ignored: list[str] = []

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        if text.count('"') % 2:
            raise QueryError("unbalanced quotes in the query",
                             "в запросе непарная кавычка")
        tokens = []
        for match in TOKEN.finditer(text):
            if match.group("phrase") is not None:
                tokens.append(("phrase", match.group("phrase")))
            elif match.group("paren"):
                tokens.append((match.group("paren"), match.group("paren")))
            else:
                word = match.group("word")
                if word.startswith("-") and len(word) > 1:
                    tokens.append(("-", "-"))
                    word = word.lstrip("-")
                    if not word:
                        continue
                tokens.append(("word", word))
        # `-"phrase"` and `-(…)`: a lone minus before a quote or parenthesis
        fixed = []
        for kind, value in tokens:
            fixed.append(("-", "-") if kind == "word" and value == "-" else (kind, value))
        return fixed

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def parse(self) -> _Node | None:
        node = self._and()
        if self.peek() is not None:  # a stray ")"
            raise QueryError("unbalanced parentheses in the query",
                             "в запросе непарная скобка")
        return node

    def _is(self, words: set[str]) -> bool:
        token = self.peek()
        return token is not None and token[0] == "word" and token[1] in words

    def _and(self) -> _Node | None:
        """Terms one after another: all must match (OR groups and exclusions among them)."""
        parts: list[_Node] = []
        while (token := self.peek()) is not None and token[0] != ")":
            if self._is(OR_WORDS):  # an OR with nothing before it
                self.pos += 1
                continue
            node = self._or()
            if node is not None:
                parts.append(node)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else _Node("and", children=parts)

    def _or(self) -> _Node | None:
        """`a OR b OR c`: OR binds tighter than the implicit AND (as in web search)."""
        branches = [self._unary()]
        while self._is(OR_WORDS):
            self.pos += 1
            if self.peek() is None or self.peek()[0] == ")":
                break
            branches.append(self._unary())
        kept = [b for b in branches if b is not None]
        if len(kept) > 1 and any(b.kind == "not" for b in kept):
            raise QueryError("an OR alternative needs a word to look for, not an exclusion",
                             "у каждой альтернативы OR должно быть слово для поиска, "
                             "а не исключение")
        if not kept:
            return None
        return kept[0] if len(kept) == 1 else _Node("or", children=kept)

    def _unary(self) -> _Node | None:
        negate = False
        while (token := self.peek()) is not None and (token[0] == "-"
                                                       or self._is(NOT_WORDS)):
            negate = True
            self.pos += 1
        if self.peek() is None or self.peek()[0] == ")":
            return None
        node = self._atom()
        if node is None:
            return None
        if node.kind == "not" or (node.kind == "and" and
                                  all(c.kind == "not" for c in node.children)):
            raise QueryError("a group in parentheses needs a word to look for, not only "
                             "exclusions", "в скобках должно быть слово для поиска, а не "
                             "только исключения")
        return _Node("not", children=[node]) if negate else node

    def _atom(self) -> _Node | None:
        kind, value = self.tokens[self.pos]
        self.pos += 1
        if kind == "(":
            node = self._and()
            if self.peek() is None or self.peek()[0] != ")":
                raise QueryError("unbalanced parentheses in the query",
                                 "в запросе непарная скобка")
            self.pos += 1
            return node
        if kind == "phrase":
            lemmas = lemmatize(value)
            if not lemmas:
                self.ignored.append(f'"{value}"')
                return None
            return self._term(lemmas, value)
        if value in AND_WORDS or value in IGNORED_WORDS:
            self.ignored.append(value)
            return None
        if value.endswith("*"):
            return self._prefix(value)
        lemmas = lemmatize(value)
        if not lemmas:  # emoji, punctuation
            self.ignored.append(value)
            return None
        if lemmas in STOP_WORDS:
            self.ignored.append(value)
            return None
        return self._term(lemmas, value)

    def _term(self, lemmas: str, raw: str) -> _Node:
        variants = name_variants(lemmas, raw) or ()
        variants = tuple(dict.fromkeys((*variants, lemmas)))  # `IT` still finds "IT"
        for variant in variants:
            self.highlight.extend(w for w in variant.split() if "-" not in w)
        if len(variants) == 1:
            return _Node("term", _quote(variants[0]))
        return _Node("term", "(" + " OR ".join(map(_quote, variants)) + ")")

    def _prefix(self, value: str) -> _Node | None:
        stem = value.rstrip("*").lower().replace("ё", "е")
        letters = LETTERS.findall(stem)
        if len(letters) != len(stem) or len(stem) < 2:
            raise QueryError(f"a prefix search needs two letters or more before '*', "
                             f"not {value!r}",
                             f"для поиска по началу слова нужно не меньше двух букв перед "
                             f"«*», а не «{value}»")
        return _Node("term", _quote(stem) + "*")


def _render(node: _Node) -> str:
    if node.kind == "term":
        return node.expr
    if node.kind == "or":
        return "(" + " OR ".join(f"({_render(c)})" if c.kind == "and" else _render(c)
                                 for c in node.children) + ")"
    if node.kind == "not":  # only ever rendered inside an AND, below
        return _render(node.children[0])
    positives = [c for c in node.children if c.kind != "not"]
    negatives = [c for c in node.children if c.kind == "not"]
    if not positives:
        raise QueryError("a query needs at least one word to look for besides -exclusions",
                         "в запросе должно быть хотя бы одно слово для поиска, кроме "
                         "исключений со знаком «-»")
    expr = " AND ".join(_render(c) for c in positives)
    if len(positives) > 1 and negatives:
        expr = "(" + expr + ")"
    if negatives:
        expr += " NOT (" + " OR ".join(_render(c) for c in negatives) + ")"
    return expr


def parse(text: str | None) -> ParsedQuery:
    """Parse a user query; a blank one is no query (expression None), and one left with
    nothing to look for is a QueryError."""
    if text is None or not clean(text).strip():
        return ParsedQuery(None)
    parser = _Parser(text)
    node = parser.parse()
    if node is None and all(w in AND_WORDS or w in IGNORED_WORDS for w in parser.ignored):
        # «OR», «AND», «NEAR», «NOT ()»: operators with no words
        raise QueryError(
            f"nothing to search for in the query {text.strip()!r}: it holds only operators "
            "and brackets; give words to search for",
            f"в запросе «{text.strip()}» нечего искать: в нём только операторы и скобки; "
            "укажите слова для поиска")
    if node is None:
        ignored = ", ".join(parser.ignored)
        raise QueryError(
            f"nothing to search for in the query ({ignored} ignored: stop words, emoji "
            "and punctuation are not searched; put stop words in quotes to search them)",
            f"в запросе нечего искать (не учитываются: {ignored} — служебные слова, эмодзи и "
            "знаки препинания; чтобы искать служебное слово, возьмите его в кавычки)")
    if node.kind == "not":
        node = _Node("and", children=[node])
    expression = _render(node)
    return ParsedQuery(expression, list(dict.fromkeys(parser.highlight)), parser.ignored)
