"""microbe"""
