"""core.store"""
