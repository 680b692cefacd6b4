"""Notices to buildings (停水, 停电, 电梯检修): written in the console, delivered by a job, and answering
residents who report the same outage while it lasts."""
