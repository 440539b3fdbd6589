"""Mapping suggestions: candidate replacement terms for unmapped source values.

Text similarity over the taxonomy's labels (docs/feeds.md, "Taxonomy lists"), in pure
Python: each category path (or brand name, or predefined value) becomes a weighted
token vector -- the leaf name counts most, its ancestors less -- with inverse document
frequency weights; a source value (`Home & Garden > Kitchen > Mugs`, `mug`, `Sofaz`) is
scored by cosine similarity, 0..1, over an inverted index, so ~5,000 leaf categories x a
few thousand values take well under a second or two. Query words the taxonomy does not
know are matched to its closest word by character trigrams (typos, `tshirt`).

TikTok's "Recommend Category 202309" can add its own pick for a sample product title
(`suggest(..., recommend=...)`). Suggestions are never applied on their own:
`accept_suggestions(..., min_score=X)` is the explicit "accept above score X".
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict
from tiktok_shop.catalog import CatalogApi
from tiktok_shop.errors import TikTokError

from catalog_sync.taxonomy import (
    PATH_SEPARATOR,
    CategoryAttribute,
    TaxonomyBrand,
    TaxonomyCategory,
    brand_term,
    fetch_recommendation,
    value_term,
)

log = logging.getLogger(__name__)

# Weight of a segment by its distance from the last one (the leaf): leaf, parent, ...
SEGMENT_WEIGHTS = (1.0, 0.35, 0.2)
OTHER_SEGMENT_WEIGHT = 0.1
FUZZY_MIN = 0.5  # trigram Jaccard from which an unknown word stands for a known one
STOP_WORDS = frozenset({"and", "for", "of", "the", "with", "in", "a", "an", "to", "on", "other"})
_SEGMENTS = re.compile(r"\s*(?:>|\u203a|\u00bb|\|)\s*|\s+/\s+")
_WORD = re.compile(r"[a-z0-9]+")
_APOSTROPHE = re.compile(r"['\u2019`]")

Source = Literal["text", "tiktok", "text+tiktok"]


def normalize_word(word: str) -> str:
    """Crude English singular, so `Sofas` meets `sofa` and `Boxes` meets `box`."""
    if len(word) <= 3 or word.endswith("ss"):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "sses", "zes")):
        return word[:-2]
    if word.endswith("s"):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    folded = _APOSTROPHE.sub("", folded)
    return [normalize_word(w) for w in _WORD.findall(folded) if w not in STOP_WORDS]


def segments(text: str) -> list[str]:
    """`A > B > C` (also single and double angle quotes, `|`, ` / `) -> segments, root first."""
    return [s for s in _SEGMENTS.split(text.strip()) if s]


def _segment_weight(distance: int) -> float:
    return SEGMENT_WEIGHTS[distance] if distance < len(SEGMENT_WEIGHTS) else OTHER_SEGMENT_WEIGHT


def weighted_words(parts: Sequence[str]) -> dict[str, float]:
    """Each word with the weight of the nearest-to-leaf segment it appears in."""
    out: dict[str, float] = {}
    last = len(parts) - 1
    for i, part in enumerate(parts):
        weight = _segment_weight(last - i)
        for w in words(part):
            if out.get(w, 0.0) < weight:
                out[w] = weight
    return out


def trigrams(word: str) -> frozenset[str]:
    padded = f"${word}$"
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@dataclass(frozen=True, slots=True)
class IndexItem:
    """One selectable term: its id, the label shown, and the segments it is matched on."""

    id: str
    term: str
    label: str
    segments: tuple[str, ...]
    invite_only: bool = False


@dataclass(frozen=True, slots=True)
class Match:
    item: IndexItem
    score: float


class SuggestionIndex:
    """Cosine similarity of IDF-weighted word vectors, over an inverted index."""

    def __init__(self, items: Iterable[IndexItem]) -> None:
        self.items = list(items)
        self.by_id = {item.id: item for item in self.items}
        vectors = [weighted_words(item.segments) for item in self.items]
        df: dict[str, int] = {}
        for vec in vectors:
            for w in vec:
                df[w] = df.get(w, 0) + 1
        n = max(len(self.items), 1)
        self.idf = {w: math.log(1 + n / d) for w, d in df.items()}
        self._unknown_idf = math.log(1 + n)
        self.postings: dict[str, list[tuple[int, float]]] = {}
        self.norms: list[float] = []
        for i, vec in enumerate(vectors):
            norm = 0.0
            for w, weight in vec.items():
                x = weight * self.idf[w]
                self.postings.setdefault(w, []).append((i, x))
                norm += x * x
            self.norms.append(math.sqrt(norm) or 1.0)
        self._grams: dict[str, list[str]] = {}
        self._word_grams: dict[str, frozenset[str]] = {}
        for w in self.idf:
            grams = trigrams(w)
            self._word_grams[w] = grams
            for g in grams:
                self._grams.setdefault(g, []).append(w)

    @classmethod
    def for_categories(
        cls, categories: Iterable[TaxonomyCategory], *, leaves_only: bool = True
    ) -> SuggestionIndex:
        return cls(
            IndexItem(
                id=c.id,
                term=c.term,
                label=c.path,
                segments=tuple(c.path.split(PATH_SEPARATOR)),
                invite_only=c.invite_only,
            )
            for c in categories
            if c.is_leaf or not leaves_only
        )

    @classmethod
    def for_brands(cls, brands: Iterable[TaxonomyBrand]) -> SuggestionIndex:
        return cls(
            IndexItem(id=b.id, term=brand_term(b.id, b.name), label=b.name, segments=(b.name,))
            for b in brands
            if b.available
        )

    @classmethod
    def for_values(cls, attribute: CategoryAttribute) -> SuggestionIndex:
        """The predefined values of one attribute (terms of "TikTok non-customized values")."""
        return cls(
            IndexItem(
                id=v.id,
                term=value_term(attribute.name, v.name, v.id),
                label=v.name,
                segments=(v.name,),
            )
            for v in attribute.values
        )

    def _closest_word(self, word: str) -> tuple[str, float] | None:
        if len(word) < 3:
            return None
        grams = trigrams(word)
        shared: dict[str, int] = {}
        for g in grams:
            for w in self._grams.get(g, ()):
                shared[w] = shared.get(w, 0) + 1
        best: tuple[str, float] | None = None
        for w, common in shared.items():
            sim = common / (len(grams) + len(self._word_grams[w]) - common)
            if sim >= FUZZY_MIN and (
                best is None or sim > best[1] or (sim == best[1] and w < best[0])
            ):
                best = (w, sim)
        return best

    def search(self, query: str, *, limit: int = 5, min_score: float = 0.0) -> list[Match]:
        """The best items for `query`, score 0..1, best first (ties: shorter label, id)."""
        vec = weighted_words(segments(query))
        if not vec or not self.items:
            return []
        expanded: dict[str, float] = {}
        qnorm = 0.0
        for w, weight in vec.items():
            idf = self.idf.get(w)
            if idf is not None:
                x = weight * idf
                qnorm += x * x
                expanded[w] = max(expanded.get(w, 0.0), x)
                continue
            close = self._closest_word(w)
            if close is None:
                # A word no label has: it lowers every score (the value says more).
                qnorm += (weight * self._unknown_idf) ** 2
                continue
            # A near miss (typo) stands for the known word, discounted by its similarity.
            known, sim = close
            x = weight * self.idf[known]
            qnorm += x * x
            expanded[known] = max(expanded.get(known, 0.0), x * sim)
        if not expanded:
            return []
        dots: dict[int, float] = {}
        for w, x in expanded.items():
            for i, y in self.postings[w]:
                dots[i] = dots.get(i, 0.0) + x * y
        qnorm = math.sqrt(qnorm)
        scored = [
            (min(1.0, dot / (qnorm * self.norms[i])), i)
            for i, dot in dots.items()
            if dot / (qnorm * self.norms[i]) >= min_score
        ]
        scored.sort(key=lambda s: (-s[0], len(self.items[s[1]].label), self.items[s[1]].id))
        return [Match(self.items[i], round(score, 4)) for score, i in scored[:limit]]


class Suggestion(BaseModel):
    """A candidate replacement term for one source value."""

    model_config = ConfigDict(frozen=True)

    value: str
    term: str
    id: str
    label: str
    score: float
    source: Source
    invite_only: bool = False


Recommender = Callable[[str], Awaitable["tuple[str, str] | None"]]
"""A product title -> TikTok's leaf (id, path), or None when TikTok has no pick."""


def suggest_text(
    values: Iterable[str], index: SuggestionIndex, *, limit: int = 3, min_score: float = 0.05
) -> dict[str, list[Suggestion]]:
    """Text suggestions for each value (pure, synchronous)."""
    out: dict[str, list[Suggestion]] = {}
    for value in values:
        out[value] = [
            Suggestion(
                value=value,
                term=m.item.term,
                id=m.item.id,
                label=m.item.label,
                score=m.score,
                source="text",
                invite_only=m.item.invite_only,
            )
            for m in index.search(value, limit=limit, min_score=min_score)
        ]
    return out


def combine(
    value: str,
    text: Sequence[Suggestion],
    picked: tuple[str, str] | None,
    index: SuggestionIndex,
    *,
    confidence: float,
    limit: int,
) -> list[Suggestion]:
    """Merge TikTok's pick into the text suggestions.

    When both agree the scores combine as independent evidence (1 - (1-a)(1-b)); TikTok's
    pick alone scores `confidence`.
    """
    if picked is None:
        return list(text)
    leaf_id, path = picked
    merged = [s for s in text if s.id != leaf_id]
    agreed = next((s for s in text if s.id == leaf_id), None)
    item = index.by_id.get(leaf_id)
    if agreed is not None:
        score = 1 - (1 - agreed.score) * (1 - confidence)
        merged.append(agreed.model_copy(update={"score": round(score, 4), "source": "text+tiktok"}))
    else:
        merged.append(
            Suggestion(
                value=value,
                term=item.term if item else f"{leaf_id}|{path}",
                id=leaf_id,
                label=item.label if item else path,
                score=confidence,
                source="tiktok",
                invite_only=item.invite_only if item else False,
            )
        )
    merged.sort(key=lambda s: (-s.score, s.label, s.id))
    return merged[:limit]


async def suggest(
    values: Iterable[str],
    index: SuggestionIndex,
    *,
    recommend: Recommender | None = None,
    titles: Mapping[str, str] | None = None,
    limit: int = 3,
    min_score: float = 0.05,
    recommend_confidence: float = 0.6,
    max_recommend_calls: int = 500,
    concurrency: int = 4,
) -> dict[str, list[Suggestion]]:
    """Text suggestions, plus TikTok's pick for up to `max_recommend_calls` values.

    `titles` gives a sample product title per value (a better question for TikTok than
    the category label itself); values without one ask with the value.
    """
    values = list(dict.fromkeys(values))
    text = suggest_text(values, index, limit=limit, min_score=min_score)
    if recommend is None:
        return text
    gate = asyncio.Semaphore(max(1, concurrency))

    async def ask(value: str) -> tuple[str, tuple[str, str] | None]:
        async with gate:
            return value, await recommend((titles or {}).get(value) or value)

    asked = values[:max_recommend_calls]
    picks = dict(await asyncio.gather(*(ask(v) for v in asked)))
    return {
        v: combine(
            v,
            text[v],
            picks.get(v),
            index,
            confidence=recommend_confidence,
            limit=limit,
        )
        for v in values
    }


def tiktok_recommender(catalog: CatalogApi, market: str) -> Recommender:
    """A `Recommender` over "Recommend Category 202309"; a failing call counts as no pick."""

    async def recommend(title: str) -> tuple[str, str] | None:
        try:
            found = await fetch_recommendation(catalog, market, title)
        except TikTokError as exc:
            log.warning(
                "recommend category failed",
                extra={"code": exc.code, "error": type(exc).__name__},
            )
            return None
        return (found.leaf_id, found.path) if found is not None else None

    return recommend


def accept_suggestions(
    suggestions: Mapping[str, Sequence[Suggestion]],
    *,
    min_score: float,
    allow_invite_only: bool = False,
) -> dict[str, str]:
    """value -> term of its best suggestion scoring at least `min_score` (explicit opt-in)."""
    if not 0 < min_score <= 1:
        raise ValueError("min_score must be in (0, 1]")
    accepted: dict[str, str] = {}
    for value, candidates in suggestions.items():
        best = next(
            (s for s in candidates if allow_invite_only or not s.invite_only),
            None,
        )
        if best is not None and best.score >= min_score:
            accepted[value] = best.term
    return accepted
