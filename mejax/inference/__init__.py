"""Post-estimation: predictions, BLUPs, ICCs, tests, margins and small-sample degrees of freedom."""
