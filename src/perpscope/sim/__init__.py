"""perpscope.sim"""
