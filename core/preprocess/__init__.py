"""core.preprocess"""
