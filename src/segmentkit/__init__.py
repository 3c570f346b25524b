"""segmentkit: behavioral audience segmentation by clustering.

The public API::

    from segmentkit import Segmentation, assign, load_settings
    result = Segmentation(persona_column="persona").fit(customers="c.csv", events="e.csv")
    result.write("out")
"""

__version__ = "0.1.0"

from segmentkit.config import ColumnMapping, Settings, load_settings  # noqa: E402
from segmentkit.errors import InputError  # noqa: E402
from segmentkit.model import SegmentationModel  # noqa: E402
from segmentkit.pipeline import Segmentation, SegmentationResult, assign  # noqa: E402

__all__ = [
    "ColumnMapping",
    "InputError",
    "Segmentation",
    "SegmentationModel",
    "SegmentationResult",
    "Settings",
    "assign",
    "load_settings",
    "__version__",
]
