"""The staff web console under /console (Flask blueprint and Jinja templates, mobile first).

`web.py` makes the blueprint and registers the views; the views take what they share from `pages.py`, so
no view imports the module that registers it.
"""
