"""segmentkit: behavioral audience segmentation by clustering."""

__version__ = "0.1.0"
