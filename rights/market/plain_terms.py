"""A licence's terms in plain words, for the asset page before buying, the receipt and the PDF certificate.

`terms` is the dict a licence records (`services.licence_terms_for`): the platform's terms for its type, the
attributions and the licences of the datasets the track's model was trained on. Every sentence is built from
those values, so the words cannot say more or less than the licence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Clause:
    title: str
    text: str


def _copies(limit: int | None) -> str:
    if limit is None:
        return "You may distribute any number of copies and streams of your work."
    return f"You may distribute up to {limit:,} copies (sales, downloads or streams) of the work you make with it."


def _yes_no(allowed: bool, yes: str, no: str) -> str:
    return yes if allowed else no


def terms_in_words(terms: dict) -> list[Clause]:
    """The clauses of `terms`, in the order a buyer reads them: use, copies, picture and broadcast, exclusivity,
    territory and duration, what may not be done, credits, and what the training data's licences add."""
    clauses = [
        Clause(
            "Use",
            _yes_no(
                terms.get("commercial_use", False),
                "You may use the loop in your own music and sell or stream what you make with it.",
                "Personal, non-commercial use only.",
            ),
        ),
        Clause("Copies", _copies(terms.get("max_distributed_copies"))),
        Clause(
            "Film, TV, games, adverts",
            _yes_no(
                terms.get("sync", False),
                "Allowed: you may put it to picture (synchronisation).",
                "Not included: putting it to picture (film, TV, games, adverts, online video) needs the extended or "
                "exclusive licence.",
            ),
        ),
        Clause(
            "Radio and TV broadcast",
            _yes_no(
                terms.get("broadcast", False),
                "Allowed.",
                "Not included: broadcast needs the extended or exclusive licence.",
            ),
        ),
        Clause(
            "Exclusivity",
            _yes_no(
                terms.get("exclusive", False),
                "Exclusive: once you buy it, nobody else can license this loop, or any loop of the same stem over any of "
                "its bars; they leave the catalogue. Licences sold before yours "
                f"{terms.get('earlier_non_exclusive_licences', 'remain valid')}.",
                "Non-exclusive: other buyers may license the same loop.",
            ),
        ),
        Clause("Territory", f"{str(terms.get('territory', 'worldwide')).capitalize()}."),
        Clause(
            "Duration",
            "Perpetual: the licence does not expire."
            if terms.get("term") == "perpetual"
            else f"{str(terms.get('term', '')).capitalize()}.",
        ),
        Clause(
            "Not allowed",
            _yes_no(
                terms.get("resale_of_the_loop", False),
                "You may resell the loop itself.",
                "Selling, sharing or giving away the loop itself (alone, or in a sample pack or library); it must "
                "become part of a new work.",
            ),
        ),
    ]
    attributions = [a for a in terms.get("attribution") or [] if a]
    clauses.append(
        Clause(
            "Credit",
            "Credit required in your release notes: " + "; ".join(attributions) + "."
            if attributions
            else "No credit required.",
        )
    )
    datasets = terms.get("dataset_licences")
    if datasets:
        parts = []
        for dataset in datasets:
            text = f"{dataset['dataset']} ({dataset['licence'] or 'licence not named'}"
            text += ", commercial use allowed" if dataset.get("commercial_use") else ", non-commercial only"
            parts.append(text + ")")
        clauses.append(
            Clause(
                "Training data",
                "The model that made this track was trained on "
                + "; ".join(parts)
                + ". Their labels receive a share of every sale, and the credits "
                "above are what their licences ask.",
            )
        )
    elif datasets is not None:
        clauses.append(Clause("Training data", "This track was not made by a model trained on licensed data."))
    return clauses
