"""A customer's requests that staff or a sweep complete: privacy requests, custom requests, exports,
rectification, erasure.
"""
