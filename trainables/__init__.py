"""Everything that runs inside one trial, as plain PyTorch (Ray only in `trial`)."""
