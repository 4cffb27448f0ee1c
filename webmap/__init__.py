"""webmap: the Flask web adapter."""
