"""Reading studies back: tables, regimes, phase diagrams and advice."""
