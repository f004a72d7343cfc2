"""SiamRPN++ trackers (pysot ``SiamRPNTracker`` and ``SiamRPNLTTracker``) with a depth option."""
