"""core.reader_study"""
