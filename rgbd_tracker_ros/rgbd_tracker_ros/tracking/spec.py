"""What describes a tracker, once: ``TrackerSpec``.

Each tracker folder has a ``spec.py`` with ``SPECS``, a tuple of these. The registry, the export
tool, the node's help text and the README table are all derived from them; the tracker's
parameters are the fields of ``params`` with their values and comments in
``config/trackers/<name>.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrackerSpec:
    """One tracker.

    ``factory`` is ``"module:function"``, imported on first use so that listing trackers never
    imports network code; it is called as ``factory(params, model)`` with an instance of
    ``params`` and, for a tracker with ``architectures``, the loaded ``tracking.model.TrackerModel``
    (``None`` for a weight-free tracker). ``architectures`` names the networks (see
    ``networks/checkpoint.py``) whose exported files the tracker runs; the first spec listing an
    architecture is the one ``export_model`` embeds parameters for by default. ``checkpoints``
    names the official files to export (README). ``uses_depth``: reads depth when a frame has it;
    ``needs_depth``: refuses to start without it (and reports LOST on a frame without).
    """

    name: str
    summary: str
    factory: str
    params: type
    architectures: tuple[str, ...] = ()
    checkpoints: str = ""
    uses_depth: bool = False
    needs_depth: bool = False

    def __post_init__(self) -> None:
        if ":" not in self.factory:
            raise ValueError(
                f"{self.name}: factory must be 'module:function', got {self.factory!r}"
            )

    @property
    def needs_weights(self) -> bool:
        return bool(self.architectures)

    @property
    def inputs(self) -> str:
        if self.needs_depth:
            return "RGB + depth"
        return "RGB, depth if present" if self.uses_depth else "RGB"
