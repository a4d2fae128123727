"""perpscope.render"""
