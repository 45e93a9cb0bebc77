"""Fault drills: Roster in its production layout, on a PostgreSQL cluster and a Redis of its
own, put through kills, restarts, outages and abusive clients (``make drills``)."""
