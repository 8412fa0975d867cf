"""core.segmentation"""
