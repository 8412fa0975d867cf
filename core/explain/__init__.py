"""Explanations: class-activation maps via pytorch-grad-cam, overlays, and the ROAD faithfulness score."""

from core.explain.overlay import COLORMAPS, overlay_cam, triptych

CAM_METHOD_NAMES = ("gradcam", "gradcam++", "hirescam", "layercam", "scorecam", "eigencam")

__all__ = ["CAM_METHOD_NAMES", "COLORMAPS", "overlay_cam", "triptych"]
