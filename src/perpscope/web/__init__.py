"""perpscope.web"""
