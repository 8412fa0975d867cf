"""Segmentation: the miscarriage study's level-set pipeline, the papers' metrics and biometry.

Why: clinicians look at a segmentation before they trust a number. Networks live in ``core.models``; this
package holds what is shared by every segmenter (metrics, biometry, the level set, the benchmark).
Submodules are imported directly (``from core.segmentation.metrics import dice``) so that importing one of
them does not pull in OpenCV or scikit-image for the others.
"""
