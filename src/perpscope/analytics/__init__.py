"""perpscope.analytics"""
