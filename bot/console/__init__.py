"""The staff web console under /console (Flask blueprint and Jinja templates, mobile first).

Nothing is imported here: handlers import bot.console.links to add sign-in links to pushes, and the
blueprint imports handlers; keeping this file empty keeps that free of cycles.
"""
