"""An honest first run: which model runs on which image, said in one sentence.

Shared by the app's pages and the CLI (no streamlit here):

- :class:`Fallback`: the chosen model's weights cannot be had, so another model
  runs; :attr:`Fallback.sentence` says which, why, and the one command that fixes
  it (no errno, no URL: those are in :attr:`Fallback.details`),
- :func:`shapes_on_photo`: a ShapesWorld model was chosen for a photo,
- :func:`scene_image`: a generated ShapesWorld scene as an image source, with its
  objects at the pixel sizes the ShapesWorld models were trained on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import shapes_world as SW
from .images import LoadedImage

if TYPE_CHECKING:
    from .models.registry import ModelEntry

CLI = "python -m deeplab_viz"
SCENE_SOURCE = "generated ShapesWorld scene"  # how the image source is offered
SCENE_FORMAT = "ShapesWorld"  # LoadedImage.source_format of a generated scene
SCENE_SIZE = 513  # pixels: the app's default working size, so the model sees it 1:1
# Object diameters as in training: ShapesWorld's range on its 160-px scenes, in pixels.
SCENE_DIAMETERS = (SW.MIN_DIAMETER, SW.MAX_DIAMETER_FRACTION * SW.DEFAULT_SIZE)
SCENE_OBJECTS = 8

_WHY = {
    "missing": "The trained weights of {name} are not on this computer",
    "download": "The trained weights of {name} could not be downloaded",
    "damaged": "The weights file of {name} on this computer is damaged",
}


@dataclass(frozen=True)
class Fallback:
    """The model asked for could not be loaded; ``running`` runs instead."""

    requested: str  # model name asked for
    running: str  # model name that runs instead
    reason: str  # a word of deeplab_viz.weights.REASONS
    command: str  # the one command that fixes it
    details: str  # the loader's own message (paths, URL, error), for a "details" view

    @property
    def sentence(self) -> str:
        """One short sentence: which model runs instead, why, and the command that fixes it."""
        why = _WHY.get(self.reason, _WHY["missing"]).format(name=self.requested)
        return f"{why}, so {self.running} runs instead; run `{self.command}` to fix this."

    def __str__(self) -> str:
        return self.sentence


def fix_command(entry: ModelEntry) -> str:
    """The one command that gets ``entry``'s trained weights onto this computer."""
    if entry.kind == "local":  # ships in deeplab_viz/assets/models; its source names the command
        m = re.search(r"\(python -m deeplab_viz ([\w-]+)\)", entry.source)
        return f"{CLI} {m.group(1)}" if m else f"git checkout -- {entry.source.split(' ')[0]}"
    return f"{CLI} fetch {entry.name}"


def fallback(entry: ModelEntry, running: str, message: str, reason: str) -> Fallback:
    """The :class:`Fallback` for ``entry`` whose loader said ``message`` (``reason``)."""
    details = message.rstrip(".") + "."
    if entry.kind == "torchvision":
        details += (
            f" To explore its structure without trained weights, choose "
            f"“{entry.name}:random” (architecture only)."
        )
    return Fallback(
        requested=entry.name,
        running=running,
        reason=reason,
        command=fix_command(entry),
        details=details,
    )


def running_caption(title: str, label: str, device: str, *, instead_of: str | None) -> str:
    """The sidebar's line naming the model that actually runs (Markdown)."""
    text = f"Running: **{label}** on {device} · {title}"
    if instead_of is not None:
        text += f" · instead of {instead_of}, whose weights are not available"
    return text


def shapes_on_photo(model_name: str) -> str:
    """One sentence for a ShapesWorld model chosen to segment a photo."""
    return (
        f"{model_name} was trained on generated ShapesWorld scenes (discs, squares, "
        f"triangles, rings), not on photos: choose “{SCENE_SOURCE}” as the image "
        "to see what it learned."
    )


def is_scene(image: LoadedImage) -> bool:
    """Whether ``image`` is a generated ShapesWorld scene (from :func:`scene_image`)."""
    return image.source_format == SCENE_FORMAT


def scene_image(seed: int, *, size: int = SCENE_SIZE) -> LoadedImage:
    """The ShapesWorld scene of ``seed`` as an image source.

    ``size`` × ``size`` pixels with up to :data:`SCENE_OBJECTS` objects whose diameters
    span the training range (:data:`SCENE_DIAMETERS`), so at the default working size
    the models see objects as large as in training. Deterministic in its arguments.
    """
    scene = SW.custom_scene(seed, size=size, diameters=SCENE_DIAMETERS, n_objects=SCENE_OBJECTS)
    rgb = np.ascontiguousarray(scene.rgb)
    rgb.setflags(write=False)
    return LoadedImage(
        rgb=rgb,
        name=f"ShapesWorld scene {seed}",
        original_size=(size, size),
        source_format=SCENE_FORMAT,
        source_mode="RGB",
        exif_orientation=1,
        resized=False,
        n_frames=1,
    )
