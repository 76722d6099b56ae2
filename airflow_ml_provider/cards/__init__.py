"""Cards: HTML reports a step renders about itself (Metaflow's ``metaflow.cards``).

``from airflow_ml_provider.cards import Markdown, Table, Image, VegaChart, ProgressBar, Artifact, get_cards``.
Put ``@card`` on a step (``from airflow_ml_provider import card``), add components with
``current.card.append(...)``; the runtime renders the card (``cards/layout.py``) and stores it
through ``datastore/card_store.py``.
"""

from airflow_ml_provider.cards.components import (
    Artifact,
    Image,
    Markdown,
    MetaflowCardComponent,
    ProgressBar,
    Table,
    VegaChart,
)
from airflow_ml_provider.client.cards import Card, CardContainer, get_cards

__all__ = [
    "Artifact",
    "Card",
    "CardContainer",
    "Image",
    "Markdown",
    "MetaflowCardComponent",
    "ProgressBar",
    "Table",
    "VegaChart",
    "get_cards",
]
