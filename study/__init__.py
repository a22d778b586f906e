"""Study configs, launching on Ray Tune, and the `regimes` command line."""
