"""perpscope.store"""
