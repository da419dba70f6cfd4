"""The link between data centers and the console: heartbeats (a lease) and the agent that sends
them from a DC that only dials out."""
