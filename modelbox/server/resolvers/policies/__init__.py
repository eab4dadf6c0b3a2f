"""Policies: promotion of good checkpoints, labeling of good versions, retention."""
