"""perpscope.feed"""
