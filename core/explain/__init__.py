"""core.explain"""
