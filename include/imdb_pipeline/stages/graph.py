"""The stage graph, defined once: which stages each stage reads, by name, and what a stage returns.

Edges are named: a stage receives its upstream outputs as ``{upstream stage: outputs}``, so a DAG
task, a test and the command line pass them by name, never by position. The DAG files wire their
tasks to this graph (a test compares them), ``runner`` runs it, ``report`` lists its stages. This
module imports nothing, so whoever needs the graph does not load the stages.
"""

from __future__ import annotations

Outputs = dict[str, str]  # artifact name -> absolute path, what a stage returns and XCom carries

# stage -> the upstream stages whose outputs it reads, in the order they run.
GRAPH: dict[str, tuple[str, ...]] = {
    "ingest": (),
    "vectorize": ("ingest",),
    "train": ("ingest", "vectorize"),
    "evaluate": ("vectorize", "train"),
    "gate": ("ingest", "evaluate"),
    "report": ("ingest", "train", "evaluate", "gate"),
    "promote": ("train", "evaluate", "gate"),
}
STAGES = tuple(GRAPH)
