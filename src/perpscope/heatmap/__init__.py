"""perpscope.heatmap"""
