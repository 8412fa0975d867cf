"""core.evaluation"""
