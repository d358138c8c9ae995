"""Backend-neutral analysis of trained recurrent cells."""
